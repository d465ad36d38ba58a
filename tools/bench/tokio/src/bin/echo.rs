// SPDX-License-Identifier: MIT
//
// echo: the Tokio peer of weft's echo benchmark (docs/benchmarks.md,
// "I/O benchmarks"): a TCP echo server on tokio::net.
//
// Usage: echo --port P [--workers N]
//
// Listens on 127.0.0.1:P only. A multi-thread runtime with N workers
// (default 1: the benchmark gives every server one CPU); the accept loop
// is a task on the runtime too, and each connection is one spawned task
// that reads into its own 16 KiB buffer and writes back what it read
// (AsyncReadExt::read, AsyncWriteExt::write_all), with TCP_NODELAY set.
//
// Built offline with the rest of tools/bench/tokio (Debian's
// librust-tokio-dev): tools/bench/echo/run builds it under the object tree.
// Runs until killed; exit 1 if it cannot listen, 2 on a bad option.

use std::process;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PROG: &str = "echo-tokio";

#[path = "../server_args.rs"]
mod server_args;

async fn serve(mut sock: TcpStream) {
    let _ = sock.set_nodelay(true);
    let mut buf = vec![0u8; 16384];
    loop {
        let n = match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if sock.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn accept_loop(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((sock, _)) => {
                tokio::spawn(serve(sock));
            }
            // EMFILE and the like: keep serving the others.
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
        // The accept loop runs on a worker, like the connections.
        let _ = tokio::spawn(accept_loop(listener)).await;
    });
}
