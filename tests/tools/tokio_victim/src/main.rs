// SPDX-License-Identifier: MIT
//! weftstat-tokio-victim: a Tokio runtime with 2 workers (threads named
//! "tokio-runtime-worker", "tokio-runtime-w" to the kernel); one task calls
//! planted_sleep(), which blocks its worker in usleep() for 20 ms, then
//! waits 10 ms the Tokio way, over and over; 4 other tasks tick every 2 ms.
//! Prints "ready PID FILE LINE 0" once running; on SIGTERM or SIGINT
//! prints one "sleep START END" line per usleep
//! (CLOCK_MONOTONIC ns) and exits 0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PLANT_US: u32 = 20_000;

fn mono_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The bug weftstat must find: a blocking call on a Tokio worker.
#[inline(never)]
fn planted_sleep(log: &Mutex<Vec<(u64, u64)>>) {
    let t0 = mono_ns();
    // SAFETY: usleep has no preconditions.
    unsafe { libc::usleep(PLANT_US) }; // PLANT_LINE
    log.lock().unwrap().push((t0, mono_ns()));
}

fn main() {
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: plain signal mask calls on a local set, before any thread.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        libc::alarm(120);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (s, l) = (stop.clone(), log.clone());
    rt.spawn(async move {
        while !s.load(Ordering::Relaxed) {
            planted_sleep(&l);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    for _ in 0..4 {
        let s = stop.clone();
        rt.spawn(async move {
            while !s.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
    }
    while log.lock().unwrap().is_empty() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let line = include_str!("main.rs")
        .lines()
        .position(|l| l.contains("PLANT") && l.contains("usleep(PLANT_US)"))
        .map_or(0, |i| i + 1);
    println!("ready {} {} {} 0", std::process::id(), file!(), line);
    let mut sig = 0;
    // SAFETY: waits for one of the blocked signals.
    unsafe { libc::sigwait(&set, &mut sig) };
    stop.store(true, Ordering::Relaxed);
    rt.shutdown_timeout(Duration::from_secs(2));
    for (a, b) in log.lock().unwrap().iter() {
        println!("sleep {} {}", a, b);
    }
}
