// SPDX-License-Identifier: MIT
//
// echo.go - the Go peer of weft's echo benchmark (docs/benchmarks.md,
// "I/O benchmarks"): a TCP echo server, one goroutine per connection, the
// standard library only.
//
// Usage: echo-go --port P [--workers N]
//
// Listens on 127.0.0.1:P only. --workers sets GOMAXPROCS (default 1: the
// benchmark gives every server one CPU). Each connection reads into its
// own 16 KiB buffer and writes back what it read (an explicit loop, not
// io.Copy, which would splice(2) between the two sockets and bypass the
// scheduler). Go sets TCP_NODELAY on every connection by default.
//
// Built offline by tools/bench/echo/run: go build with GOPROXY=off and
// GOPATH, GOCACHE under the object tree. Runs until killed; exit 1 if it
// cannot listen, 2 on a bad option.
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
)

func usage(status int, msg string) {
	if msg != "" {
		fmt.Fprintf(os.Stderr, "echo-go: %s\n", msg)
	}
	out := os.Stdout
	if status != 0 {
		out = os.Stderr
	}
	fmt.Fprintln(out, "usage: echo-go --port P [--workers N]")
	os.Exit(status)
}

func parseInt(name, s string, lo, hi int) int {
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		usage(2, fmt.Sprintf("%s needs an integer in %d..%d, got '%s'", name, lo, hi, s))
	}
	return v
}

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16384)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	port, workers := 0, 1
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := a, "", false
		if j := strings.IndexByte(a, '='); j >= 0 && strings.HasPrefix(a, "--") {
			name, val, hasVal = a[:j], a[j+1:], true
		}
		switch name {
		case "-h", "--help":
			usage(0, "")
		case "--port", "--workers":
			if !hasVal {
				if i+1 >= len(args) {
					usage(2, name+" needs a value")
				}
				i++
				val = args[i]
			}
			if name == "--port" {
				port = parseInt(name, val, 1, 65535)
			} else {
				workers = parseInt(name, val, 1, 256)
			}
		default:
			usage(2, fmt.Sprintf("unknown option '%s'", a))
		}
	}
	if port == 0 {
		usage(2, "--port is required")
	}
	runtime.GOMAXPROCS(workers)

	ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo-go: %v\n", err)
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			// EMFILE and the like: keep serving the others.
			continue
		}
		go serve(c)
	}
}
