// SPDX-License-Identifier: MIT
//
// http: the Tokio side of weft's HTTP benchmark (docs/benchmarks.md,
// "I/O benchmarks"): a minimal HTTP/1.1 server with keep-alive and one
// fixed response, for wrk. No HTTP library (Debian's registry has no hyper
// offline): the request parsing is hand-written and minimal, and weft's
// HTTP example must answer with the same bytes for the figures to compare.
//
// Usage: http --port P [--workers N]
//
// Listens on 127.0.0.1:P only; a multi-thread runtime with N workers
// (default 1), the accept loop and one task per connection on it, with
// TCP_NODELAY. Every request, whatever its method and target, gets
//
//   HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!
//
// Requests are read into a 16 KiB buffer and answered in order; pipelined
// requests are answered with one write. A request body (Content-Length) is
// skipped. The connection closes after a request with "Connection: close",
// after an HTTP/1.0 request without "Connection: keep-alive", and, with a
// 400 or 431 answer, on a malformed request, a chunked body or headers
// larger than the buffer. Runs until killed; exit 1 if it cannot listen,
// 2 on a bad option.

use std::process;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PROG: &str = "http-tokio";

#[path = "../server_args.rs"]
mod server_args;

const BUF_SIZE: usize = 16384;
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

enum Parse {
    /// A whole request: its length (headers and body) and whether the
    /// connection stays open after it.
    Request(usize, bool),
    /// Not all of it has arrived yet.
    Partial,
    /// Something this server does not take: the answer, then close.
    Reject(&'static [u8]),
}

fn find_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn trim(s: &[u8]) -> &[u8] {
    let mut a = 0;
    let mut b = s.len();
    while a < b && (s[a] == b' ' || s[a] == b'\t') {
        a += 1;
    }
    while b > a && (s[b - 1] == b' ' || s[b - 1] == b'\t') {
        b -= 1;
    }
    &s[a..b]
}

fn parse(buf: &[u8]) -> Parse {
    let head_len = match find_end(buf) {
        Some(n) => n,
        None if buf.len() >= BUF_SIZE => return Parse::Reject(TOO_LARGE),
        None => return Parse::Partial,
    };
    let head = &buf[..head_len - 4];
    let mut lines = head.split(|&b| b == b'\n').map(|l| match l.last() {
        Some(b'\r') => &l[..l.len() - 1],
        _ => l,
    });
    // Request line: METHOD SP TARGET SP HTTP/1.x
    let line = lines.next().unwrap_or(b"");
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    if parts.len() != 3 || parts[0].is_empty() || parts[1].is_empty() {
        return Parse::Reject(BAD_REQUEST);
    }
    let mut keep_alive = match parts[2] {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        _ => return Parse::Reject(BAD_REQUEST),
    };
    let mut body = 0usize;
    for l in lines {
        let colon = match l.iter().position(|&b| b == b':') {
            Some(c) => c,
            None => return Parse::Reject(BAD_REQUEST),
        };
        let name = &l[..colon];
        let value = trim(&l[colon + 1..]);
        if name.eq_ignore_ascii_case(b"content-length") {
            let ok = !value.is_empty() && value.iter().all(|b| b.is_ascii_digit());
            body = match std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
                Some(n) if ok && n <= BUF_SIZE => n,
                _ => return Parse::Reject(BAD_REQUEST),
            };
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Parse::Reject(BAD_REQUEST);
        } else if name.eq_ignore_ascii_case(b"connection") {
            if value.eq_ignore_ascii_case(b"close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case(b"keep-alive") {
                keep_alive = true;
            }
        }
    }
    if buf.len() < head_len + body {
        if head_len + body > BUF_SIZE {
            return Parse::Reject(TOO_LARGE);
        }
        return Parse::Partial;
    }
    Parse::Request(head_len + body, keep_alive)
}

async fn serve(mut sock: TcpStream) {
    let _ = sock.set_nodelay(true);
    let mut buf = vec![0u8; BUF_SIZE];
    let mut len = 0usize;
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let n = match sock.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        len += n;
        let mut start = 0usize;
        let mut open = true;
        while open && start < len {
            match parse(&buf[start..len]) {
                Parse::Request(used, keep_alive) => {
                    out.extend_from_slice(RESPONSE);
                    start += used;
                    open = keep_alive;
                }
                Parse::Partial => break,
                Parse::Reject(answer) => {
                    out.extend_from_slice(answer);
                    open = false;
                }
            }
        }
        if !out.is_empty() {
            if sock.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if !open {
            return;
        }
        buf.copy_within(start..len, 0);
        len -= start;
    }
}

async fn accept_loop(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((sock, _)) => {
                tokio::spawn(serve(sock));
            }
            Err(_) => tokio::task::yield_now().await,
        }
    }
}

fn main() {
    let (port, workers) = server_args::parse(PROG);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("{}: cannot build the runtime: {}", PROG, e);
            process::exit(1);
        });
    rt.block_on(async move {
        let listener = match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{}: bind 127.0.0.1:{}: {}", PROG, port, e);
                process::exit(1);
            }
        };
        let _ = tokio::spawn(accept_loop(listener)).await;
    });
}
