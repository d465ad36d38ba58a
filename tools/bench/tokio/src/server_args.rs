// SPDX-License-Identifier: MIT
//
// The command line of the Tokio servers of the I/O benchmarks (src/bin/echo.rs,
// src/bin/http.rs): --port P (required) and --workers N (default 1), as
// every server of tools/bench/echo takes them. Included with #[path].

use std::env;
use std::process;

fn usage(prog: &str, status: i32, msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("{}: {}", prog, msg);
    }
    if status == 0 {
        println!("usage: {} --port P [--workers N]", prog);
    } else {
        eprintln!("usage: {} --port P [--workers N]", prog);
    }
    process::exit(status);
}

fn parse_int(prog: &str, name: &str, s: &str, lo: u32, hi: u32) -> u32 {
    let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match s.parse::<u32>() {
        Ok(v) if ok && v >= lo && v <= hi => v,
        _ => usage(
            prog,
            2,
            &format!("{} needs an integer in {}..{}, got '{}'", name, lo, hi, s),
        ),
    }
}

/// (port, workers) from the command line; exits 2 on anything wrong.
pub fn parse(prog: &str) -> (u16, usize) {
    let args: Vec<String> = env::args().skip(1).collect();
    let (mut port, mut workers) = (0u32, 1u32);
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let (name, inline) = match a.find('=') {
            Some(j) if a.starts_with("--") => (&a[..j], Some(&a[j + 1..])),
            _ => (a, None),
        };
        match name {
            "-h" | "--help" => usage(prog, 0, ""),
            "--port" | "--workers" => {
                let val = match inline {
                    Some(v) => v.to_string(),
                    None => {
                        i += 1;
                        match args.get(i) {
                            Some(v) => v.clone(),
                            None => usage(prog, 2, &format!("{} needs a value", name)),
                        }
                    }
                };
                if name == "--port" {
                    port = parse_int(prog, name, &val, 1, 65535);
                } else {
                    workers = parse_int(prog, name, &val, 1, 256);
                }
            }
            _ => usage(prog, 2, &format!("unknown option '{}'", a)),
        }
        i += 1;
    }
    if port == 0 {
        usage(prog, 2, "--port is required");
    }
    (port as u16, workers as usize)
}

