// SPDX-License-Identifier: MIT
//
// weft-bench-tokio: the Tokio side of weft's runtime benchmarks.
//
// Usage: weft-bench-tokio [--workers N] [--iters K] [--list] [PATTERN...]
//
// Prints one JSON object per line on stdout, one per benchmark:
//   {"bench":"yield_many","impl":"tokio","ns_per_op":93.1,"ops":200000,
//    "workers":2,"iters":50,"stat":"median","min_ns_per_op":90.2}
// ns_per_op is the median over K timed iterations of (iteration time / ops);
// one untimed warm-up iteration runs first. weft's C peer
// ($(obj)/tools/bench/weft-bench) takes the same flags and prints the same
// lines with "impl":"weft". docs/benchmarks.md defines every workload; the
// definitions here must stay in step with it.
//
// PATTERN: a bench runs when its name matches any PATTERN. A pattern
// containing '*' or '?' is a glob over the whole name, any other pattern
// matches as a substring. No PATTERN: every bench. No bench name is a
// substring of another, so a full name selects exactly that bench.
// --list prints the selected names, one a line, and runs nothing:
// tools/bench/run uses it to run each bench for every implementation back
// to back, so that both are measured under the same machine conditions.
//
// Timing conventions shared with the weft side:
// - the runtime is built before timing starts and dropped after it ends;
// - the clock starts just before the first spawn and stops when the thread
//   outside the runtime (main) has seen the last completion;
// - completions are signalled to main through a countdown latch (an atomic
//   counter plus a mutex/condvar), the same cost on both sides.

use std::env;
use std::fs;
use std::future::Future;
use std::pin::Pin;
use std::process;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::yield_now;
use tokio::time::Sleep;

// Workload parameters: the same on the weft side (docs/benchmarks.md).
const SPAWN_MANY: usize = 10_000;
const YIELD_TASKS: usize = 200;
const YIELDS_PER_TASK: usize = 1_000;
const PING_PONGS: usize = 1_000;
const CHAIN_LEN: usize = 1_000;
const MPSC_SENDERS: usize = 5;
const MPSC_PER_SENDER: usize = 1_000;
// Tokio's contention_bounded uses a capacity that is never reached (1e6);
// the total message count gives the same never-full behaviour without
// penalising a channel that allocates its ring up front.
const MPSC_CAP: usize = MPSC_SENDERS * MPSC_PER_SENDER;
// Tokio's contention_bounded_full: senders hit backpressure.
const MPSC_FULL_CAP: usize = 100;
const CTX_SWITCHES: usize = 100_000;
const IDLE_TASKS: usize = 100_000;
// The seed's "one task driving N operations versus N spawned tasks".
const SEED_OPS: usize = 10_000;
const SEED_WAIT: Duration = Duration::from_millis(1);
// The seed's actor-versus-mutex map.
const MAP_KEYS: u64 = 1024;
const MAP_SLOTS: usize = 2048; // power of two, load factor 1/2
const MAP_CALLERS: usize = 64;
const MAP_OPS_PER_CALLER: usize = 2_000;
const MAP_WRITE_PCT: u64 = 10;
const MAP_ACTOR_CAP: usize = 128;

const DEFAULT_ITERS: usize = 50;

/// Counts completions down to zero and wakes the waiting (non-runtime)
/// thread on the last one.
struct Countdown {
    rem: AtomicUsize,
    done: Mutex<bool>,
    cv: Condvar,
}

impl Countdown {
    fn new(n: usize) -> Arc<Countdown> {
        Arc::new(Countdown {
            rem: AtomicUsize::new(n),
            done: Mutex::new(false),
            cv: Condvar::new(),
        })
    }

    fn hit(&self) {
        if self.rem.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.done.lock().unwrap() = true;
            self.cv.notify_one();
        }
    }

    fn wait(&self) {
        let mut done = self.done.lock().unwrap();
        while !*done {
            done = self.cv.wait(done).unwrap();
        }
    }
}

/// One timed iteration: returns the elapsed time and optional extra
/// measurement (resident bytes per task for idle_task_mem).
type IterFn = fn(&Runtime) -> (Duration, Option<f64>);

struct Bench {
    name: &'static str,
    ops: usize,
    /// true: a current-thread runtime (one worker, no stealing).
    current_thread: bool,
    run: IterFn,
}

// spawn_many_local: a task running on a worker spawns SPAWN_MANY empty
// tasks (they land in that worker's local queue and get stolen from there);
// each decrements the countdown. ns per spawn, completion included.
fn spawn_many_local(rt: &Runtime) -> (Duration, Option<f64>) {
    let cd = Countdown::new(SPAWN_MANY);
    let cd2 = cd.clone();
    let start = Instant::now();
    rt.spawn(async move {
        for _ in 0..SPAWN_MANY {
            let cd = cd2.clone();
            tokio::spawn(async move { cd.hit() });
        }
    });
    cd.wait();
    (start.elapsed(), None)
}

// spawn_many_remote_idle: the main thread, outside the runtime, spawns
// SPAWN_MANY empty tasks into the idle runtime (inject queue), then waits
// for every one of them through its join handle.
fn spawn_many_remote_idle(rt: &Runtime) -> (Duration, Option<f64>) {
    let mut handles = Vec::with_capacity(SPAWN_MANY);
    let start = Instant::now();
    for _ in 0..SPAWN_MANY {
        handles.push(rt.spawn(async {}));
    }
    rt.block_on(async {
        for h in handles.drain(..) {
            h.await.unwrap();
        }
    });
    (start.elapsed(), None)
}

// yield_many: YIELD_TASKS tasks spawned from outside, each yields
// YIELDS_PER_TASK times then completes. ns per yield.
fn yield_many(rt: &Runtime) -> (Duration, Option<f64>) {
    let cd = Countdown::new(YIELD_TASKS);
    let start = Instant::now();
    for _ in 0..YIELD_TASKS {
        let cd = cd.clone();
        rt.spawn(async move {
            for _ in 0..YIELDS_PER_TASK {
                yield_now().await;
            }
            cd.hit();
        });
    }
    cd.wait();
    (start.elapsed(), None)
}

// ping_pong: a root task spawns PING_PONGS tasks; each creates two oneshot
// channels, spawns a partner that waits on the first and answers on the
// second, sends the ping and waits for the pong. ns per round trip (two
// spawns and two oneshots included, as in Tokio's rt_multi_threaded).
fn ping_pong(rt: &Runtime) -> (Duration, Option<f64>) {
    let cd = Countdown::new(PING_PONGS);
    let cd2 = cd.clone();
    let start = Instant::now();
    rt.spawn(async move {
        for _ in 0..PING_PONGS {
            let cd = cd2.clone();
            tokio::spawn(async move {
                let (ping_tx, ping_rx) = oneshot::channel::<()>();
                let (pong_tx, pong_rx) = oneshot::channel::<()>();
                tokio::spawn(async move {
                    ping_rx.await.unwrap();
                    pong_tx.send(()).unwrap();
                });
                ping_tx.send(()).unwrap();
                pong_rx.await.unwrap();
                cd.hit();
            });
        }
    });
    cd.wait();
    (start.elapsed(), None)
}

fn chain(cd: Arc<Countdown>, n: usize) {
    if n == 0 {
        cd.hit();
    } else {
        tokio::spawn(async move { chain(cd, n - 1) });
    }
}

// chained_spawn: a root task spawns a task that spawns the next, CHAIN_LEN
// deep; the last one completes the countdown. ns per link.
fn chained_spawn(rt: &Runtime) -> (Duration, Option<f64>) {
    let cd = Countdown::new(1);
    let cd2 = cd.clone();
    let start = Instant::now();
    rt.spawn(async move { chain(cd2, CHAIN_LEN) });
    cd.wait();
    (start.elapsed(), None)
}

// A root task creates a bounded channel of capacity `cap`, spawns
// MPSC_SENDERS senders of MPSC_PER_SENDER messages each and receives all of
// them itself. ns per message; channel creation included.
fn mpsc_run(rt: &Runtime, cap: usize) -> (Duration, Option<f64>) {
    let cd = Countdown::new(1);
    let cd2 = cd.clone();
    let start = Instant::now();
    rt.spawn(async move {
        let (tx, mut rx) = mpsc::channel::<usize>(cap);
        for _ in 0..MPSC_SENDERS {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..MPSC_PER_SENDER {
                    tx.send(i).await.unwrap();
                }
            });
        }
        drop(tx);
        for _ in 0..MPSC_SENDERS * MPSC_PER_SENDER {
            rx.recv().await.unwrap();
        }
        cd2.hit();
    });
    cd.wait();
    (start.elapsed(), None)
}

fn mpsc_bounded(rt: &Runtime) -> (Duration, Option<f64>) {
    mpsc_run(rt, MPSC_CAP)
}

fn mpsc_backpressure(rt: &Runtime) -> (Duration, Option<f64>) {
    mpsc_run(rt, MPSC_FULL_CAP)
}

// ctx_switch: one task on a current-thread runtime yields CTX_SWITCHES
// times. ns per yield: the cost of suspending a task and resuming it
// through the scheduler with nothing else to run.
fn ctx_switch(rt: &Runtime) -> (Duration, Option<f64>) {
    let start = Instant::now();
    let h = rt.spawn(async {
        for _ in 0..CTX_SWITCHES {
            yield_now().await;
        }
    });
    rt.block_on(h).unwrap();
    (start.elapsed(), None)
}

// A future that wakes its own task and returns Pending once: the task goes
// straight back to the run queue. Tokio's yield_now instead defers the wake
// until the scheduler has polled its drivers (in 1.24 that is an epoll_wait
// per yield when nothing else is runnable); this one measures the bare
// reschedule, for reference.
struct SelfWake(bool);

impl std::future::Future for SelfWake {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

// self_wake (Tokio only, a reference point): as ctx_switch, but the
// task suspends through a self-wake instead of yield_now.
fn self_wake(rt: &Runtime) -> (Duration, Option<f64>) {
    let start = Instant::now();
    let h = rt.spawn(async {
        for _ in 0..CTX_SWITCHES {
            SelfWake(false).await;
        }
    });
    rt.block_on(h).unwrap();
    (start.elapsed(), None)
}

// seed_spawn_each: a root task spawns SEED_OPS tasks; each sleeps 1 ms (its
// own timer entry), then counts down. ns per operation, the wait included.
fn seed_spawn_each(rt: &Runtime) -> (Duration, Option<f64>) {
    let cd = Countdown::new(SEED_OPS);
    let cd2 = cd.clone();
    let start = Instant::now();
    rt.spawn(async move {
        for _ in 0..SEED_OPS {
            let cd = cd2.clone();
            tokio::spawn(async move {
                tokio::time::sleep(SEED_WAIT).await;
                cd.hit();
            });
        }
    });
    cd.wait();
    (start.elapsed(), None)
}

// seed_one_task: ONE task drives SEED_OPS concurrent 1 ms waits through a
// delay queue of its own: each operation's deadline (clock read + 1 ms)
// goes into a FIFO (the clock is monotonic), then the task sleeps until
// the earliest pending deadline and completes every operation that is due.
// One timer entry at a time, the same code as the weft side.
fn seed_one_task(rt: &Runtime) -> (Duration, Option<f64>) {
    let cd = Countdown::new(1);
    let cd2 = cd.clone();
    let start = Instant::now();
    rt.spawn(async move {
        let mut deadline = Vec::with_capacity(SEED_OPS);
        let mut done = vec![tokio::time::Instant::now(); SEED_OPS];
        for _ in 0..SEED_OPS {
            deadline.push(tokio::time::Instant::now() + SEED_WAIT);
        }
        let mut head = 0;
        while head < SEED_OPS {
            let now = tokio::time::Instant::now();
            while head < SEED_OPS && deadline[head] <= now {
                done[head] = now;
                head += 1;
            }
            if head < SEED_OPS {
                tokio::time::sleep_until(deadline[head]).await;
            }
        }
        drop(done);
        cd2.hit();
    });
    cd.wait();
    (start.elapsed(), None)
}

// A minimal FuturesUnordered (futures-util is not in Debian's registry
// here): every future has a waker of its own that queues its index and
// wakes the driving task, which polls only the futures queued. As
// futures-util's, a poll of the driver gives the thread back once two
// futures woke themselves while polled (the cooperative budget ran out).
struct ReadyQueue {
    state: Mutex<(Vec<usize>, Option<Waker>)>,
}

struct SlotWaker {
    index: usize,
    woken: AtomicBool,
    queue: Arc<ReadyQueue>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Relaxed);
        let parent = {
            let mut st = self.queue.state.lock().unwrap();
            st.0.push(self.index);
            st.1.clone()
        };
        if let Some(w) = parent {
            w.wake();
        }
    }
}

struct Unordered {
    futs: Vec<Option<Pin<Box<Sleep>>>>,
    slots: Vec<Arc<SlotWaker>>,
    wakers: Vec<Waker>,
    queue: Arc<ReadyQueue>,
    batch: Vec<usize>,
    remaining: usize,
}

impl Unordered {
    fn new(n: usize, wait: Duration) -> Unordered {
        let queue = Arc::new(ReadyQueue { state: Mutex::new((Vec::with_capacity(n), None)) });
        let mut u = Unordered {
            futs: Vec::with_capacity(n),
            slots: Vec::with_capacity(n),
            wakers: Vec::with_capacity(n),
            queue: queue.clone(),
            batch: Vec::with_capacity(n),
            remaining: n,
        };
        for i in 0..n {
            u.futs.push(Some(Box::pin(tokio::time::sleep(wait))));
            let slot = Arc::new(SlotWaker { index: i, woken: AtomicBool::new(false), queue: queue.clone() });
            u.wakers.push(Waker::from(slot.clone()));
            u.slots.push(slot);
        }
        // Every future is polled once to start with.
        u.batch.extend((0..n).rev());
        u
    }
}

impl Future for Unordered {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let me = &mut *self;
        {
            let mut st = me.queue.state.lock().unwrap();
            if !st.1.as_ref().map_or(false, |w| w.will_wake(cx.waker())) {
                st.1 = Some(cx.waker().clone());
            }
        }
        let mut yielded = 0;
        loop {
            if me.batch.is_empty() {
                let mut st = me.queue.state.lock().unwrap();
                std::mem::swap(&mut me.batch, &mut st.0);
                me.batch.reverse();
            }
            let i = match me.batch.pop() {
                Some(i) => i,
                None => return Poll::Pending,
            };
            let fut = match me.futs[i].as_mut() {
                Some(f) => f,
                None => continue, // already done: a stale wake-up
            };
            me.slots[i].woken.store(false, Ordering::Relaxed);
            let mut scx = Context::from_waker(&me.wakers[i]);
            match fut.as_mut().poll(&mut scx) {
                Poll::Ready(()) => {
                    me.futs[i] = None;
                    me.remaining -= 1;
                    if me.remaining == 0 {
                        return Poll::Ready(());
                    }
                }
                Poll::Pending => {
                    if me.slots[i].woken.load(Ordering::Relaxed) {
                        yielded += 1;
                        if yielded >= 2 {
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                    }
                }
            }
        }
    }
}

// seed_futures_unordered (Tokio only, the seed's own pattern): one task
// drives SEED_OPS tokio::time::sleep(1 ms) futures, each its own timer
// entry, through the FuturesUnordered above. weft has no equivalent yet
// (a task cannot keep many runtime timers in flight).
fn seed_futures_unordered(rt: &Runtime) -> (Duration, Option<f64>) {
    let cd = Countdown::new(1);
    let cd2 = cd.clone();
    let start = Instant::now();
    rt.spawn(async move {
        Unordered::new(SEED_OPS, SEED_WAIT).await;
        cd2.hit();
    });
    cd.wait();
    (start.elapsed(), None)
}

// The map benches: a u64 -> u64 open-addressing hash map (linear probing,
// MAP_SLOTS slots, MAP_KEYS keys, all present), the same code as the weft
// side's, shared by MAP_CALLERS tasks doing MAP_OPS_PER_CALLER operations
// each: a xorshift64* stream seeded by the caller's index picks the key and,
// MAP_WRITE_PCT times in 100, a write instead of a read.
struct Map {
    key: Vec<u64>, // key + 1; 0: empty
    val: Vec<u64>,
}

impl Map {
    fn filled() -> Map {
        let mut m = Map { key: vec![0; MAP_SLOTS], val: vec![0; MAP_SLOTS] };
        for k in 0..MAP_KEYS {
            m.put(k, k);
        }
        m
    }
    fn slot(k: u64) -> usize {
        (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 53) as usize & (MAP_SLOTS - 1)
    }
    fn get(&self, k: u64) -> Option<u64> {
        let mut i = Map::slot(k);
        loop {
            if self.key[i] == k + 1 {
                return Some(self.val[i]);
            }
            if self.key[i] == 0 {
                return None;
            }
            i = (i + 1) & (MAP_SLOTS - 1);
        }
    }
    fn put(&mut self, k: u64, v: u64) {
        let mut i = Map::slot(k);
        loop {
            if self.key[i] == k + 1 || self.key[i] == 0 {
                self.key[i] = k + 1;
                self.val[i] = v;
                return;
            }
            i = (i + 1) & (MAP_SLOTS - 1);
        }
    }
}

struct Rng(u64);

impl Rng {
    fn new(caller: usize) -> Rng {
        Rng((caller as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn is_write(r: u64) -> bool {
    (r >> 32) % 100 < MAP_WRITE_PCT
}

// Sum of the values read, kept so that no read can be optimised away.
static MAP_SINK: AtomicU64 = AtomicU64::new(0);

#[derive(Debug)]
enum Cmd {
    Put(u64, u64),
    Get(u64, oneshot::Sender<Option<u64>>),
}

// map_actor: one task owns the map; callers send commands on a bounded
// channel (capacity MAP_ACTOR_CAP), writes without a reply, reads with a
// oneshot for the answer (the seed's state_actor).
fn map_actor(rt: &Runtime) -> (Duration, Option<f64>) {
    let map = Map::filled();
    let cd = Countdown::new(1);
    let cd2 = cd.clone();
    let start = Instant::now();
    rt.spawn(async move {
        let (tx, mut rx) = mpsc::channel::<Cmd>(MAP_ACTOR_CAP);
        let actor = tokio::spawn(async move {
            let mut map = map;
            while let Some(cmd) = rx.recv().await {
                match cmd {
                    Cmd::Put(k, v) => map.put(k, v),
                    Cmd::Get(k, reply) => {
                        let _ = reply.send(map.get(k));
                    }
                }
            }
        });
        let mut callers = Vec::with_capacity(MAP_CALLERS);
        for c in 0..MAP_CALLERS {
            let tx = tx.clone();
            callers.push(tokio::spawn(async move {
                let mut rng = Rng::new(c);
                let mut sum = 0u64;
                for i in 0..MAP_OPS_PER_CALLER {
                    let r = rng.next();
                    let k = r % MAP_KEYS;
                    if is_write(r) {
                        tx.send(Cmd::Put(k, i as u64)).await.unwrap();
                    } else {
                        let (otx, orx) = oneshot::channel();
                        tx.send(Cmd::Get(k, otx)).await.unwrap();
                        sum = sum.wrapping_add(orx.await.unwrap().unwrap_or(u64::MAX));
                    }
                }
                MAP_SINK.fetch_add(sum, Ordering::Relaxed);
            }));
        }
        drop(tx);
        for h in callers {
            h.await.unwrap();
        }
        // Every sender is gone: the actor drains what is queued and ends.
        actor.await.unwrap();
        cd2.hit();
    });
    cd.wait();
    (start.elapsed(), None)
}

// map_task_mutex: the map behind a tokio::sync::Mutex (the task-aware lock:
// a contended lock suspends the task). Never held across an .await.
fn map_task_mutex(rt: &Runtime) -> (Duration, Option<f64>) {
    let map = Arc::new(tokio::sync::Mutex::new(Map::filled()));
    let cd = Countdown::new(1);
    let cd2 = cd.clone();
    let start = Instant::now();
    rt.spawn(async move {
        let mut callers = Vec::with_capacity(MAP_CALLERS);
        for c in 0..MAP_CALLERS {
            let map = map.clone();
            callers.push(tokio::spawn(async move {
                let mut rng = Rng::new(c);
                let mut sum = 0u64;
                for i in 0..MAP_OPS_PER_CALLER {
                    let r = rng.next();
                    let k = r % MAP_KEYS;
                    let mut m = map.lock().await;
                    if is_write(r) {
                        m.put(k, i as u64);
                    } else if let Some(v) = m.get(k) {
                        sum = sum.wrapping_add(v);
                    }
                }
                MAP_SINK.fetch_add(sum, Ordering::Relaxed);
            }));
        }
        for h in callers {
            h.await.unwrap();
        }
        cd2.hit();
    });
    cd.wait();
    (start.elapsed(), None)
}

// map_os_mutex: the map behind a std::sync::Mutex (a futex lock that spins
// a little first), held briefly, never across an .await.
fn map_os_mutex(rt: &Runtime) -> (Duration, Option<f64>) {
    let map = Arc::new(Mutex::new(Map::filled()));
    let cd = Countdown::new(1);
    let cd2 = cd.clone();
    let start = Instant::now();
    rt.spawn(async move {
        let mut callers = Vec::with_capacity(MAP_CALLERS);
        for c in 0..MAP_CALLERS {
            let map = map.clone();
            callers.push(tokio::spawn(async move {
                let mut rng = Rng::new(c);
                let mut sum = 0u64;
                for i in 0..MAP_OPS_PER_CALLER {
                    let r = rng.next();
                    let k = r % MAP_KEYS;
                    let mut m = map.lock().unwrap();
                    if is_write(r) {
                        m.put(k, i as u64);
                    } else if let Some(v) = m.get(k) {
                        sum = sum.wrapping_add(v);
                    }
                }
                MAP_SINK.fetch_add(sum, Ordering::Relaxed);
            }));
        }
        for h in callers {
            h.await.unwrap();
        }
        cd2.hit();
    });
    cd.wait();
    (start.elapsed(), None)
}

fn rss_bytes() -> Option<f64> {
    let s = fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

// idle_task_mem: spawn IDLE_TASKS tasks from outside that each park on a
// semaphore with no permits (an idle task: alive, suspended, waiting), and
// wait until all of them have run up to that point. ns per task for that;
// bytes_per_task = growth of the resident set / IDLE_TASKS, taken on the
// first (warm-up) iteration of a fresh process, since later iterations
// reuse memory the allocator kept. Then release them all.
fn idle_task_mem(rt: &Runtime) -> (Duration, Option<f64>) {
    let sem = Arc::new(Semaphore::new(0));
    let started = Countdown::new(IDLE_TASKS);
    let finished = Countdown::new(IDLE_TASKS);
    let rss0 = rss_bytes();
    let start = Instant::now();
    for _ in 0..IDLE_TASKS {
        let sem = sem.clone();
        let started = started.clone();
        let finished = finished.clone();
        rt.spawn(async move {
            started.hit();
            sem.acquire().await.unwrap().forget();
            finished.hit();
        });
    }
    started.wait();
    let elapsed = start.elapsed();
    let bytes = match (rss0, rss_bytes()) {
        (Some(a), Some(b)) => Some(((b - a) / IDLE_TASKS as f64).max(0.0)),
        _ => None,
    };
    sem.add_permits(IDLE_TASKS);
    finished.wait();
    (elapsed, bytes)
}

// stall_compensation: STALL_TASKS tasks each due every 1 ms on a fixed
// schedule (the k-th wake-up due at start + k ms) and one task that calls
// std::thread::sleep(200 ms) inside its poll at 0.4 s and 1.4 s of a 2.4 s
// run. Each due time of each ticker is a scheduled-delay sample: a ticker
// that wakes at t records t - due for every due time <= t (no coordinated
// omission). Tokio has no stall compensation: one run. Printed as its own
// line, ns_per_op being the p99; the weft side prints weft-stall-off and
// weft (on) lines with the same fields (docs/benchmarks.md).
const STALL_BENCH: &str = "stall_compensation";
const STALL_TASKS: usize = 1_000;
const STALL_RUN_MS: u64 = 2_400;
const STALL_BLOCK_MS: u64 = 200;
const LAT_BUCKET_NS: u64 = 10_000; // 10 us buckets
const LAT_BUCKETS: usize = 100_000; // up to 1 s; the last takes the rest

struct StallRun {
    stop: AtomicBool,
    t0: tokio::time::Instant,
    max_ns: AtomicU64,
    samples: AtomicU64,
    stalls: AtomicU64,
    hist: Vec<AtomicU64>,
}

impl StallRun {
    fn record(&self, d: u64) {
        let b = ((d / LAT_BUCKET_NS) as usize).min(LAT_BUCKETS - 1);
        self.hist[b].fetch_add(1, Ordering::Relaxed);
        self.samples.fetch_add(1, Ordering::Relaxed);
        self.max_ns.fetch_max(d, Ordering::Relaxed);
    }

    // Upper bound of the bucket holding quantile q.
    fn pct(&self, q: f64) -> u64 {
        let want = (q * self.samples.load(Ordering::Relaxed) as f64) as u64;
        let mut seen = 0;
        for (b, c) in self.hist.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen > want {
                return (b as u64 + 1) * LAT_BUCKET_NS;
            }
        }
        self.max_ns.load(Ordering::Relaxed)
    }
}

fn stall_compensation(workers: usize) {
    let rt = build_runtime(false, workers);
    let s = Arc::new(StallRun {
        stop: AtomicBool::new(false),
        t0: tokio::time::Instant::now(),
        max_ns: AtomicU64::new(0),
        samples: AtomicU64::new(0),
        stalls: AtomicU64::new(0),
        hist: (0..LAT_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
    });
    let cd = Countdown::new(STALL_TASKS + 1);
    for _ in 0..STALL_TASKS {
        let s = s.clone();
        let cd = cd.clone();
        rt.spawn(async move {
            let ms = Duration::from_millis(1);
            let mut due = s.t0 + ms;
            while !s.stop.load(Ordering::Relaxed) {
                tokio::time::sleep_until(due).await;
                let now = tokio::time::Instant::now();
                while due <= now {
                    s.record((now - due).as_nanos() as u64);
                    due += ms;
                }
            }
            cd.hit();
        });
    }
    {
        let s = s.clone();
        let cd = cd.clone();
        rt.spawn(async move {
            let mut at = 400;
            while at + STALL_BLOCK_MS < STALL_RUN_MS {
                tokio::time::sleep_until(s.t0 + Duration::from_millis(at)).await;
                // Blocks its worker on purpose.
                std::thread::sleep(Duration::from_millis(STALL_BLOCK_MS));
                s.stalls.fetch_add(1, Ordering::Relaxed);
                at += 1000;
            }
            cd.hit();
        });
    }
    std::thread::sleep(Duration::from_millis(STALL_RUN_MS));
    s.stop.store(true, Ordering::Relaxed);
    cd.wait();
    drop(rt);
    println!(
        "{{\"bench\":\"{}\",\"impl\":\"tokio\",\"ns_per_op\":{},\"ops\":{},\"workers\":{},\"iters\":1,\"stat\":\"p99 scheduled delay\",\"stall_compensation\":\"none\",\"p50_ns\":{},\"p99_ns\":{},\"max_ns\":{},\"samples\":{},\"stalls\":{}}}",
        STALL_BENCH,
        s.pct(0.99),
        STALL_TASKS,
        workers,
        s.pct(0.50),
        s.pct(0.99),
        s.max_ns.load(Ordering::Relaxed),
        s.samples.load(Ordering::Relaxed),
        s.stalls.load(Ordering::Relaxed)
    );
}

// idle_task_mem comes first: its memory figure wants a process whose
// allocator has not yet kept memory freed by other benches.
const BENCHES: &[Bench] = &[
    Bench { name: "idle_task_mem", ops: IDLE_TASKS, current_thread: false, run: idle_task_mem },
    Bench { name: "spawn_many_local", ops: SPAWN_MANY, current_thread: false, run: spawn_many_local },
    Bench { name: "spawn_many_remote_idle", ops: SPAWN_MANY, current_thread: false, run: spawn_many_remote_idle },
    Bench { name: "yield_many", ops: YIELD_TASKS * YIELDS_PER_TASK, current_thread: false, run: yield_many },
    Bench { name: "ping_pong", ops: PING_PONGS, current_thread: false, run: ping_pong },
    Bench { name: "chained_spawn", ops: CHAIN_LEN, current_thread: false, run: chained_spawn },
    Bench { name: "mpsc_bounded", ops: MPSC_SENDERS * MPSC_PER_SENDER, current_thread: false, run: mpsc_bounded },
    Bench { name: "mpsc_backpressure", ops: MPSC_SENDERS * MPSC_PER_SENDER, current_thread: false, run: mpsc_backpressure },
    Bench { name: "ctx_switch", ops: CTX_SWITCHES, current_thread: true, run: ctx_switch },
    Bench { name: "self_wake", ops: CTX_SWITCHES, current_thread: true, run: self_wake },
    Bench { name: "seed_spawn_each", ops: SEED_OPS, current_thread: false, run: seed_spawn_each },
    Bench { name: "seed_one_task", ops: SEED_OPS, current_thread: false, run: seed_one_task },
    Bench { name: "seed_futures_unordered", ops: SEED_OPS, current_thread: false, run: seed_futures_unordered },
    Bench { name: "map_actor", ops: MAP_CALLERS * MAP_OPS_PER_CALLER, current_thread: false, run: map_actor },
    Bench { name: "map_task_mutex", ops: MAP_CALLERS * MAP_OPS_PER_CALLER, current_thread: false, run: map_task_mutex },
    Bench { name: "map_os_mutex", ops: MAP_CALLERS * MAP_OPS_PER_CALLER, current_thread: false, run: map_os_mutex },
];

fn glob_match(p: &[u8], s: &[u8]) -> bool {
    // Iterative '*' / '?' matcher with single backtrack point.
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (usize::MAX, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = pi;
            mark = si;
            pi += 1;
        } else if star != usize::MAX {
            pi = star + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

fn selected(name: &str, patterns: &[String]) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| {
            if p.contains('*') || p.contains('?') {
                glob_match(p.as_bytes(), name.as_bytes())
            } else {
                name.contains(p.as_str())
            }
        })
}

fn build_runtime(current_thread: bool, workers: usize) -> Runtime {
    let mut b = if current_thread {
        Builder::new_current_thread()
    } else {
        let mut b = Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    b.enable_all().build().unwrap_or_else(|e| {
        eprintln!("weft-bench-tokio: cannot build the runtime: {}", e);
        process::exit(1)
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn usage(code: i32) -> ! {
    let text = "usage: weft-bench-tokio [--workers N] [--iters K] [--list] [PATTERN...]\n\
                \x20 --workers N  worker threads of the multi-thread runtime (default: CPUs)\n\
                \x20 --iters K    timed iterations per bench, median reported (default 50)\n\
                \x20 --list       print the bench names and exit\n\
                \x20 PATTERN      substring, or glob with * and ?, of the benches to run\n";
    if code == 0 {
        print!("{}", text);
    } else {
        eprint!("{}", text);
    }
    process::exit(code)
}

fn parse_count(flag: &str, v: Option<String>) -> usize {
    match v.as_deref().map(str::parse::<usize>) {
        Some(Ok(n)) if n > 0 => n,
        _ => {
            eprintln!(
                "weft-bench-tokio: {} needs a positive integer, got '{}'",
                flag,
                v.unwrap_or_default()
            );
            process::exit(2)
        }
    }
}

fn main() {
    let mut workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut iters = DEFAULT_ITERS;
    let mut list = false;
    let mut patterns: Vec<String> = Vec::new();

    let mut args = env::args().skip(1);
    while let Some(a) = args.next() {
        if let Some(v) = a.strip_prefix("--workers=") {
            workers = parse_count("--workers", Some(v.to_string()));
        } else if let Some(v) = a.strip_prefix("--iters=") {
            iters = parse_count("--iters", Some(v.to_string()));
        } else {
            match a.as_str() {
                "--workers" => workers = parse_count("--workers", args.next()),
                "--iters" => iters = parse_count("--iters", args.next()),
                "--list" => list = true,
                "-h" | "--help" => usage(0),
                "--" => patterns.extend(args.by_ref()),
                s if s.starts_with('-') => {
                    eprintln!("weft-bench-tokio: unknown option '{}'", s);
                    usage(2)
                }
                _ => patterns.push(a),
            }
        }
    }

    for b in BENCHES.iter().filter(|b| selected(b.name, &patterns)) {
        if list {
            println!("{}", b.name);
            continue;
        }
        let rt = build_runtime(b.current_thread, workers);
        let (_, mut extra) = (b.run)(&rt); // warm-up, untimed
        let mut per_op = Vec::with_capacity(iters);
        for _ in 0..iters {
            let (d, e) = (b.run)(&rt);
            if extra.is_none() {
                extra = e;
            }
            per_op.push(d.as_nanos() as f64 / b.ops as f64);
        }
        drop(rt);
        let min = per_op.iter().cloned().fold(f64::INFINITY, f64::min);
        let med = median(&mut per_op);
        let w = if b.current_thread { 1 } else { workers };
        let mut line = format!(
            "{{\"bench\":\"{}\",\"impl\":\"tokio\",\"ns_per_op\":{:.1},\"ops\":{},\"workers\":{},\"iters\":{},\"stat\":\"median\",\"min_ns_per_op\":{:.1}",
            b.name, med, b.ops, w, iters, min
        );
        if let Some(bytes) = extra {
            line.push_str(&format!(",\"bytes_per_task\":{:.0}", bytes));
        }
        line.push('}');
        println!("{}", line);
    }
    // Last, as on the weft side: it prints its own line.
    if selected(STALL_BENCH, &patterns) {
        if list {
            println!("{}", STALL_BENCH);
        } else {
            stall_compensation(workers);
        }
    }
}
