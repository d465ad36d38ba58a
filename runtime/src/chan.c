// SPDX-License-Identifier: MIT
/*
 * chan.c - MPSC channels: bounded (the default) and, on request, unbounded.
 *
 * Design, written before the code.
 *
 * Three pieces:
 *   - a ring of slots (Vyukov's bounded queue): slot i carries a sequence
 *     number; a sender that owns position p waits for seq == p, writes the
 *     message and publishes seq = p + 1; the receiver at position p takes
 *     it when seq == p + 1 and frees the slot with seq = p + ring size.
 *     Positions are 64-bit and only grow: tail (next position to claim,
 *     senders) and head (next to take, receivers).
 *   - a permit word, which is the capacity: word = permits | WAITERS |
 *     CLOSED. A sender needs a permit before it claims a position, so
 *     claimed-but-not-yet-received messages never exceed the capacity and
 *     the ring (capacity rounded up to a power of two) never overflows:
 *     when position p is claimed, at most capacity - 1 other positions
 *     hold permits, so p - ringsize was received and freed. The receiver
 *     gives the permit back after freeing the slot.
 *   - a mutex protecting two FIFOs of waiters (sendq, recvq) and the slow
 *     paths. Nothing on the fast paths takes it.
 *
 * Fast paths. Send: CAS one permit off the word (only while neither
 * WAITERS nor CLOSED is set), fetch_add tail, copy, publish the slot, then
 * check rx_waiting. Receive: see the slot at head published, CAS head,
 * copy, free the slot, add the permit back (only while WAITERS is clear).
 * Two atomic read-modify-writes a side and no lock: senders contend on
 * the word and tail, never on a lock, and the receiver does not touch
 * tail.
 *
 * Backpressure and FIFO among blocked senders (the WAITERS bit). A sender
 * that finds no permit takes the lock, sets WAITERS (a CAS that succeeds
 * only while permits == 0) and queues itself in sendq. Invariant, at
 * every lock release: WAITERS is set iff sendq is not empty, and WAITERS
 * set implies permits == 0. While WAITERS is set nobody changes the word
 * without the lock: fast senders and receivers back off to the slow path.
 * There a receiver hands its freed permit straight to the first waiter:
 * under the lock it copies the waiter's message into a staging buffer,
 * wins the waiter's wake (select.h), and queues the staged copy on the
 * waiter's behalf. The sender's buffer is read only before the wake, so a
 * sender woken this way returns at once, without touching the lock (the
 * extra copy is cheaper than a second lock round trip between the
 * receiver's and the sender's cores). A wake that loses (the
 * sender timed out, was cancelled, or chose another select case) moves
 * on to the next waiter; with none left the permit goes back to the word
 * and WAITERS is cleared. So a permit is never lost, a blocked sender is
 * never overtaken by a newcomer (no barging: newcomers see WAITERS and
 * queue behind), and a sender that gave up never has its message sent.
 *
 * Unbounded channels reuse all of it: the ring has 256 slots, and a send
 * that finds no permit does not wait; it parks a copy of its message in a
 * heap node (task == NULL) queued in sendq like a waiter. Receivers hand
 * freed permits to parked messages exactly as to blocked senders, so
 * order is kept: ring first, then sendq in arrival order.
 *
 * Waking the receiver (rx_waiting). A receiver that finds the ring empty
 * takes the lock, queues itself in recvq, sets rx_waiting, issues a full
 * fence and looks at the slot at head again; a sender publishes its slot,
 * issues a full fence and reads rx_waiting. This is Dekker's pattern:
 * with both fences sequentially consistent, either the receiver sees the
 * message or the sender sees rx_waiting and, under the lock, wakes the
 * first receiver of recvq. A receiver's wake means "look again": it
 * retries the ring itself (no data moves through the wake-up), so a
 * receiver that gives up leaves nothing behind. rx_waiting is cleared
 * under the lock when recvq empties.
 *
 * Close. CLOSED is set under the lock; waiting senders are woken with
 * -EPIPE, parked messages (unbounded) stay, waiting receivers are woken.
 * The channel is drained when CLOSED is set, WAITERS is clear and all
 * permits are back (permits == capacity): every message ever admitted
 * holds a permit until it is received, including one a sender admitted
 * just before the close and has not yet published. A receiver seeing an
 * empty ring waits unless drained; the last permit coming back after a
 * close wakes waiting receivers so that they see it.
 *
 * Memory orderings. Slot contents: sender's seq store-release pairs with
 * the receiver's seq load-acquire (message visible), and the receiver's
 * store-release of the freed seq pairs with the next sender's load-acquire
 * on that slot (the old reader is done before the overwrite). The permit
 * word's CASes are acquire (send) / release (receive) so that a sender
 * admitted by a returned permit also sees the slot freed, though the seq
 * protocol alone already guarantees it. The two rx_waiting fences are
 * described above. The lock orders everything on the slow paths,
 * including waiter nodes and their results.
 *
 * Costs: see docs/channels.md (measured by tools/bench).
 */
#include "internal.h"
#include "select.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define CHAN_CLOSED (1ull << 63)
#define CHAN_WAITERS (1ull << 62)
#define CHAN_PERMITS(w) ((uint32_t)((w) & 0xffffffffull))
#define CHAN_UNBOUNDED_RING 256u

struct slot {
	_Atomic uint64_t seq;
	unsigned char data[];
};

struct wf_chan {
	/* Read-mostly (high_water changes rarely once warm). */
	unsigned char *ring;
	uint64_t mask;			/* ring slots - 1 */
	size_t stride;			/* bytes per slot */
	size_t elem_size;
	uint32_t cap;			/* permits when empty */
	bool unbounded;
	_Atomic uint64_t high_water;
	unsigned char *stage;		/* hand-off copy, under the lock */

	_Atomic uint64_t word __wf_aligned;	/* permits | WAITERS | CLOSED */
	_Atomic uint64_t tail __wf_aligned;	/* senders */
	_Atomic uint64_t head __wf_aligned;	/* receiver */
	_Atomic uint32_t rx_waiting __wf_aligned;

	/* Slow paths. */
	pthread_mutex_t lock __wf_aligned;
	struct wf__waitq sendq;		/* blocked senders, parked messages */
	struct wf__waitq recvq;		/* waiting receivers */
	uint64_t parked;		/* parked messages in sendq */
	uint64_t blocked;		/* sends that found it full */
};

/* A message parked by an unbounded channel: a waiter with no task. */
struct parked {
	struct wf__waiter node;
	unsigned char data[];
};

static inline struct slot *slot_at(const struct wf_chan *ch, uint64_t pos)
{
	return (struct slot *)(ch->ring + (size_t)(pos & ch->mask) * ch->stride);
}

static inline void copy_elem(void *dst, const void *src, size_t n)
{
	/* Constant sizes let the compiler inline the common ones. */
	switch (n) {
	case 8:
		memcpy(dst, src, 8);
		break;
	case 4:
		memcpy(dst, src, 4);
		break;
	case 16:
		memcpy(dst, src, 16);
		break;
	default:
		memcpy(dst, src, n);
	}
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

static void note_depth(struct wf_chan *ch, uint64_t depth)
{
	uint64_t hw = atomic_load_explicit(&ch->high_water, memory_order_relaxed);

	while (depth > hw &&
	       !atomic_compare_exchange_weak_explicit(&ch->high_water, &hw, depth,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

/* --- creation ------------------------------------------------------------- */

static int chan_new(wf_chan **chp, size_t elem_size, size_t capacity, bool unbounded)
{
	uint64_t slots = 1;
	size_t stride;
	wf_chan *ch;

	if (!chp || !elem_size || elem_size > WF_CHAN_MAX_ELEM || !capacity ||
	    capacity > WF_CHAN_MAX_CAPACITY)
		return -EINVAL;
	while (slots < capacity)
		slots <<= 1;
	stride = (sizeof(struct slot) + elem_size + 7) & ~(size_t)7;
	if (slots > SIZE_MAX / stride)
		return -ENOMEM;
	ch = wf__alloc_aligned(sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	memset(ch, 0, sizeof(*ch));
	ch->ring = wf__alloc_aligned((size_t)slots * stride);
	ch->stage = malloc(elem_size);
	if (!ch->ring || !ch->stage) {
		free(ch->ring);
		free(ch->stage);
		free(ch);
		return -ENOMEM;
	}
	ch->mask = slots - 1;
	ch->stride = stride;
	ch->elem_size = elem_size;
	ch->cap = (uint32_t)capacity;
	ch->unbounded = unbounded;
	for (uint64_t i = 0; i < slots; i++)
		atomic_init(&slot_at(ch, i)->seq, i);
	atomic_init(&ch->word, capacity);
	pthread_mutex_init(&ch->lock, NULL);
	*chp = ch;
	return 0;
}

int wf_chan_new(wf_chan **chp, size_t elem_size, size_t capacity)
{
	return chan_new(chp, elem_size, capacity, false);
}

int wf_chan_new_unbounded(wf_chan **chp, size_t elem_size)
{
	return chan_new(chp, elem_size, CHAN_UNBOUNDED_RING, true);
}

void wf_chan_free(wf_chan *ch)
{
	struct wf__waiter *node;

	if (!ch)
		return;
	while ((node = wf__waitq_pop(&ch->sendq)))
		if (!node->task)
			free(node);
	pthread_mutex_destroy(&ch->lock);
	free(ch->stage);
	free(ch->ring);
	free(ch);
}

/* --- the ring --------------------------------------------------------------- */

static void wake_receiver(struct wf_chan *ch)
{
	struct wf__waiter *node;

	while ((node = wf__waitq_pop(&ch->recvq)))
		if (wf__node_wake(node, WF__NODE_WON))
			break;
	if (!ch->recvq.head)
		atomic_store_explicit(&ch->rx_waiting, 0, memory_order_relaxed);
}

static void wake_all_receivers(struct wf_chan *ch)
{
	wf__waitq_wake_all(&ch->recvq);
	atomic_store_explicit(&ch->rx_waiting, 0, memory_order_relaxed);
}

/*
 * Queue a message for which the caller holds a permit. @locked: the
 * caller holds ch->lock.
 */
static void ring_put(struct wf_chan *ch, const void *msg, bool locked)
{
	uint64_t pos = atomic_fetch_add_explicit(&ch->tail, 1, memory_order_relaxed);
	struct slot *s = slot_at(ch, pos);

	/*
	 * Pairs with the store-release in ring_take(): the last reader of
	 * this slot is done. The permit makes this true already (see the top
	 * comment), so the loop does not spin in practice.
	 */
	while (atomic_load_explicit(&s->seq, memory_order_acquire) != pos)
		cpu_relax();
	copy_elem(s->data, msg, ch->elem_size);
	/* Pairs with the load-acquire in ring_take(). */
	atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
	/* Pairs with the fence in rx_arm(): Dekker on (seq, rx_waiting). */
	atomic_thread_fence(memory_order_seq_cst);
	if (unlikely(atomic_load_explicit(&ch->rx_waiting, memory_order_relaxed))) {
		if (!locked)
			pthread_mutex_lock(&ch->lock);
		wake_receiver(ch);
		if (!locked)
			pthread_mutex_unlock(&ch->lock);
	}
}

/* Take the message at head into @buf: 0, or -EAGAIN if none is published. */
static int ring_take(struct wf_chan *ch, void *buf)
{
	uint64_t pos = atomic_load_explicit(&ch->head, memory_order_relaxed);

	for (;;) {
		struct slot *s = slot_at(ch, pos);
		/* Pairs with the store-release in ring_put(). */
		uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		int64_t d = (int64_t)(seq - (pos + 1));

		if (d == 0) {
			/* CAS, not a store: several receivers are allowed. */
			if (atomic_compare_exchange_weak_explicit(&ch->head, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed)) {
				copy_elem(buf, s->data, ch->elem_size);
				/* Pairs with the load-acquire in ring_put(). */
				atomic_store_explicit(&s->seq, pos + ch->mask + 1,
						      memory_order_release);
				return 0;
			}
		} else if (d < 0) {
			return -EAGAIN;
		} else {
			pos = atomic_load_explicit(&ch->head, memory_order_relaxed);
		}
	}
}

/* --- permits ----------------------------------------------------------------- */

/* Take a permit without the lock: only while nobody waits and not closed. */
static inline bool permit_try(struct wf_chan *ch)
{
	uint64_t w = atomic_load_explicit(&ch->word, memory_order_relaxed);

	while (!(w & (CHAN_CLOSED | CHAN_WAITERS)) && CHAN_PERMITS(w)) {
		/* Acquire: pairs with the release in permits_put(). */
		if (atomic_compare_exchange_weak_explicit(&ch->word, &w, w - 1,
							  memory_order_acquire,
							  memory_order_relaxed)) {
			uint64_t depth = ch->cap - CHAN_PERMITS(w) + 1;

			if (unlikely(depth > atomic_load_explicit(&ch->high_water,
								  memory_order_relaxed)))
				note_depth(ch, depth);
			return true;
		}
	}
	return false;
}

static bool drained(uint64_t w, const struct wf_chan *ch)
{
	return (w & CHAN_CLOSED) && !(w & CHAN_WAITERS) && CHAN_PERMITS(w) == ch->cap;
}

/*
 * After a close, the last permit coming back means "drained": make the
 * waiting receivers look (they return -EPIPE). Pairs with the fence in
 * rx_arm(), as in ring_put().
 */
static void closed_put(struct wf_chan *ch, bool locked)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&ch->rx_waiting, memory_order_relaxed))
		return;
	if (!locked)
		pthread_mutex_lock(&ch->lock);
	wake_all_receivers(ch);
	if (!locked)
		pthread_mutex_unlock(&ch->lock);
}

/*
 * Hand @n freed permits to waiting senders and parked messages, in
 * order; what nobody takes goes back to the word. Under the lock.
 */
static struct wf__waiter *handoff_locked(struct wf_chan *ch, uint32_t n)
{
	struct wf__waiter *to_free = NULL;

	while (n) {
		uint64_t w = atomic_load_explicit(&ch->word, memory_order_relaxed);
		struct wf__waiter *node;

		if (!(w & CHAN_WAITERS)) {
			/* Release: pairs with the acquire in permit_try(). */
			atomic_fetch_add_explicit(&ch->word, n, memory_order_release);
			break;
		}
		node = wf__waitq_pop(&ch->sendq);
		if (!node->task) {
			ch->parked--;
			ring_put(ch, ((struct parked *)node)->data, true);
			node->next = to_free;
			to_free = node;
			n--;
		} else {
			/* Once woken, the sender may reuse its buffer: copy first. */
			memcpy(ch->stage, (const void *)node->data, ch->elem_size);
			if (wf__node_wake(node, WF__NODE_WON)) {
				ring_put(ch, ch->stage, true);
				n--;
			}
		}
		if (!ch->sendq.head)
			atomic_fetch_and_explicit(&ch->word, ~CHAN_WAITERS, memory_order_relaxed);
	}
	return to_free;
}

/* Give back @n permits after receiving @n messages. */
static void permits_put(struct wf_chan *ch, uint32_t n)
{
	uint64_t w = atomic_load_explicit(&ch->word, memory_order_relaxed);
	struct wf__waiter *to_free;

	do {
		if (unlikely(w & CHAN_WAITERS))
			goto slow;
		/* Release: pairs with the acquire in permit_try(). */
	} while (!atomic_compare_exchange_weak_explicit(&ch->word, &w, w + n, memory_order_release,
							memory_order_relaxed));
	if (unlikely(w & CHAN_CLOSED))
		closed_put(ch, false);
	return;
slow:
	pthread_mutex_lock(&ch->lock);
	to_free = handoff_locked(ch, n);
	if (atomic_load_explicit(&ch->word, memory_order_relaxed) & CHAN_CLOSED)
		closed_put(ch, true);
	pthread_mutex_unlock(&ch->lock);
	while (to_free) {
		struct wf__waiter *next = to_free->next;

		free(to_free);
		to_free = next;
	}
}

/* --- sending ------------------------------------------------------------------- */

static struct parked *parked_new(struct wf_chan *ch, const void *msg)
{
	struct parked *p = malloc(sizeof(*p) + ch->elem_size);

	if (!p)
		return NULL;
	memset(&p->node, 0, sizeof(p->node));
	memcpy(p->data, msg, ch->elem_size);
	return p;
}

/*
 * Under the lock: take a permit (0), or set WAITERS so that the caller
 * can queue (-EAGAIN; word stable until unlock), or -EPIPE. With
 * @may_queue false the word is left alone when no permit is free.
 */
static int admit_locked(struct wf_chan *ch, bool may_queue)
{
	uint64_t w = atomic_load_explicit(&ch->word, memory_order_relaxed);

	for (;;) {
		if (w & CHAN_CLOSED)
			return -EPIPE;
		if (w & CHAN_WAITERS)
			return -EAGAIN;
		if (CHAN_PERMITS(w)) {
			if (atomic_compare_exchange_weak_explicit(&ch->word, &w, w - 1,
								  memory_order_acquire,
								  memory_order_relaxed)) {
				note_depth(ch, ch->cap - CHAN_PERMITS(w) + 1);
				return 0;
			}
			continue;
		}
		if (!may_queue)
			return -EAGAIN;
		/* Fails if a receiver put a permit back meanwhile: retry. */
		if (atomic_compare_exchange_weak_explicit(&ch->word, &w, w | CHAN_WAITERS,
							  memory_order_relaxed,
							  memory_order_relaxed))
			return -EAGAIN;
	}
}

/* Under the lock: sendq lost @node; keep the invariant WAITERS <=> !empty. */
static void sendq_remove(struct wf_chan *ch, struct wf__waiter *node)
{
	if (!node->linked)
		return;
	wf__waitq_remove(&ch->sendq, node);
	if (!ch->sendq.head)
		atomic_fetch_and_explicit(&ch->word, ~CHAN_WAITERS, memory_order_relaxed);
}

/* try_send without a free permit: the slow path for any thread. */
static int try_send_slow(struct wf_chan *ch, const void *msg)
{
	struct parked *p = NULL;
	int r;

	if (ch->unbounded && !(p = parked_new(ch, msg)))
		return -ENOMEM;
	pthread_mutex_lock(&ch->lock);
	r = admit_locked(ch, p != NULL);
	if (r == -EAGAIN && p) {
		wf__waitq_push(&ch->sendq, &p->node);
		ch->parked++;
		ch->blocked++;
		note_depth(ch, ch->cap + ch->parked);
		p = NULL;
		r = 1;
	}
	pthread_mutex_unlock(&ch->lock);
	free(p);
	if (r == 0)
		ring_put(ch, msg, false);
	return r < 0 ? r : 0;
}

int wf_chan_try_send(wf_chan *ch, const void *msg)
{
	if (!ch || !msg)
		return -EINVAL;
	if (likely(permit_try(ch))) {
		ring_put(ch, msg, false);
		return 0;
	}
	return try_send_slow(ch, msg);
}

int wf_chan_send_until(wf_chan *ch, const void *msg, uint64_t deadline_ns)
{
	struct wf__waiter node = { 0 };
	int r, reason;

	if (!ch || !msg)
		return -EINVAL;
	r = wf__coop();
	if (r)
		return r;
	if (likely(permit_try(ch))) {
		ring_put(ch, msg, false);
		return 0;
	}
	if (ch->unbounded)
		return try_send_slow(ch, msg);

	pthread_mutex_lock(&ch->lock);
	r = admit_locked(ch, true);
	if (r != -EAGAIN) {
		pthread_mutex_unlock(&ch->lock);
		if (r == 0)
			ring_put(ch, msg, false);
		return r;
	}
	node.task = wf__task_cur();
	node.data = (uintptr_t)msg;
	node.gen = wf__wait_prepare(node.task);
	wf__waitq_push(&ch->sendq, &node);
	ch->blocked++;
	pthread_mutex_unlock(&ch->lock);

	reason = wf__wait(node.task, node.gen, deadline_ns);
	if (reason == WF_WOKEN_OK)	/* unlinked, message queued or -EPIPE */
		return node.result == WF__NODE_WON ? 0 : (int)node.result;
	pthread_mutex_lock(&ch->lock);
	sendq_remove(ch, &node);
	pthread_mutex_unlock(&ch->lock);
	return wf__wait_errno(reason);
}

int wf_chan_send(wf_chan *ch, const void *msg)
{
	return wf_chan_send_until(ch, msg, WF_FOREVER);
}

bool wf__chan_arm_send(wf_chan *ch, struct wf__waiter *node, const void *msg)
{
	int r;

	if (ch->unbounded)
		return true;	/* never waits */
	pthread_mutex_lock(&ch->lock);
	r = admit_locked(ch, true);
	if (r == 0) {
		/* A permit was free: give it back, the try phase will take it. */
		atomic_fetch_add_explicit(&ch->word, 1, memory_order_release);
	} else if (r == -EAGAIN) {
		node->data = (uintptr_t)msg;
		wf__waitq_push(&ch->sendq, node);
	}
	pthread_mutex_unlock(&ch->lock);
	return r != -EAGAIN;
}

void wf__chan_disarm_send(wf_chan *ch, struct wf__waiter *node)
{
	pthread_mutex_lock(&ch->lock);
	sendq_remove(ch, node);
	pthread_mutex_unlock(&ch->lock);
}

/* --- receiving ----------------------------------------------------------------- */

static int try_recv(struct wf_chan *ch, void *buf)
{
	if (ring_take(ch, buf) == 0) {
		permits_put(ch, 1);
		return 0;
	}
	return drained(atomic_load_explicit(&ch->word, memory_order_acquire), ch) ? -EPIPE
										  : -EAGAIN;
}

int wf_chan_try_recv(wf_chan *ch, void *buf)
{
	if (!ch || !buf)
		return -EINVAL;
	return try_recv(ch, buf);
}

/*
 * Under the lock: queue @node as a waiting receiver unless a message (or
 * the drained state) is there already. True when ready (nothing queued).
 */
static bool rx_arm(struct wf_chan *ch, struct wf__waiter *node)
{
	uint64_t pos, seq;

	atomic_store_explicit(&ch->rx_waiting, 1, memory_order_relaxed);
	/* Pairs with the fences in ring_put() and closed_put(). */
	atomic_thread_fence(memory_order_seq_cst);
	pos = atomic_load_explicit(&ch->head, memory_order_relaxed);
	seq = atomic_load_explicit(&slot_at(ch, pos)->seq, memory_order_relaxed);
	if ((int64_t)(seq - (pos + 1)) >= 0 ||
	    drained(atomic_load_explicit(&ch->word, memory_order_relaxed), ch)) {
		if (!ch->recvq.head)
			atomic_store_explicit(&ch->rx_waiting, 0, memory_order_relaxed);
		return true;
	}
	wf__waitq_push(&ch->recvq, node);
	return false;
}

static void rx_disarm(struct wf_chan *ch, struct wf__waiter *node)
{
	if (!node->linked)
		return;
	wf__waitq_remove(&ch->recvq, node);
	if (!ch->recvq.head)
		atomic_store_explicit(&ch->rx_waiting, 0, memory_order_relaxed);
}

bool wf__chan_arm_recv(wf_chan *ch, struct wf__waiter *node)
{
	bool ready;

	pthread_mutex_lock(&ch->lock);
	ready = rx_arm(ch, node);
	pthread_mutex_unlock(&ch->lock);
	return ready;
}

void wf__chan_disarm_recv(wf_chan *ch, struct wf__waiter *node)
{
	pthread_mutex_lock(&ch->lock);
	rx_disarm(ch, node);
	pthread_mutex_unlock(&ch->lock);
}

/*
 * Wait until the ring may have a message (or the channel is drained).
 * 0: look again; -ETIMEDOUT or -ECANCELED.
 */
static int recv_wait(struct wf_chan *ch, uint64_t deadline_ns)
{
	struct wf__waiter node = { .task = wf__task_cur() };
	int reason;

	pthread_mutex_lock(&ch->lock);
	if (rx_arm(ch, &node)) {
		pthread_mutex_unlock(&ch->lock);
		return 0;
	}
	/* Linked already, but nobody wakes us before we unlock: gen is set in time. */
	node.gen = wf__wait_prepare(node.task);
	pthread_mutex_unlock(&ch->lock);

	reason = wf__wait(node.task, node.gen, deadline_ns);
	if (reason == WF_WOKEN_OK)
		return 0;
	wf__chan_disarm_recv(ch, &node);
	return wf__wait_errno(reason);
}

int wf_chan_recv_until(wf_chan *ch, void *buf, uint64_t deadline_ns)
{
	int r;

	if (!ch || !buf)
		return -EINVAL;
	r = wf__coop();
	if (r)
		return r;
	for (;;) {
		r = try_recv(ch, buf);
		if (r != -EAGAIN)
			return r;
		r = recv_wait(ch, deadline_ns);
		if (r)
			return r;
	}
}

int wf_chan_recv(wf_chan *ch, void *buf)
{
	return wf_chan_recv_until(ch, buf, WF_FOREVER);
}

int wf_chan_recv_many_until(wf_chan *ch, void *buf, size_t max, uint64_t deadline_ns)
{
	unsigned char *p = buf;
	uint32_t n;
	int r;

	if (!ch || !buf || !max)
		return -EINVAL;
	if (max > INT_MAX)
		max = INT_MAX;
	r = wf__coop();
	if (r)
		return r;
	for (;;) {
		for (n = 0; n < max && ring_take(ch, p + (size_t)n * ch->elem_size) == 0; n++)
			;
		if (n) {
			permits_put(ch, n);
			return (int)n;
		}
		if (drained(atomic_load_explicit(&ch->word, memory_order_acquire), ch))
			return -EPIPE;
		r = recv_wait(ch, deadline_ns);
		if (r)
			return r;
	}
}

int wf_chan_recv_many(wf_chan *ch, void *buf, size_t max)
{
	return wf_chan_recv_many_until(ch, buf, max, WF_FOREVER);
}

int wf_chan_send_ptr(wf_chan *ch, void *p)
{
	if (!ch || ch->elem_size != sizeof(p))
		return -EINVAL;
	return wf_chan_send(ch, &p);
}

int wf_chan_recv_ptr(wf_chan *ch, void **pp)
{
	if (!ch || ch->elem_size != sizeof(*pp))
		return -EINVAL;
	return wf_chan_recv(ch, pp);
}

/* --- close and queries ------------------------------------------------------- */

int wf_chan_close(wf_chan *ch)
{
	struct wf__waiter *node, *next;

	if (!ch)
		return -EINVAL;
	pthread_mutex_lock(&ch->lock);
	if (!(atomic_fetch_or(&ch->word, CHAN_CLOSED) & CHAN_CLOSED)) {
		for (node = ch->sendq.head; node; node = next) {
			next = node->next;
			if (!node->task)
				continue;	/* parked message: still to be received */
			wf__waitq_remove(&ch->sendq, node);
			wf__node_wake(node, -EPIPE);
		}
		if (!ch->sendq.head)
			atomic_fetch_and_explicit(&ch->word, ~CHAN_WAITERS, memory_order_relaxed);
		wake_all_receivers(ch);
	}
	pthread_mutex_unlock(&ch->lock);
	return 0;
}

int wf_chan_is_closed(const wf_chan *ch)
{
	if (!ch)
		return -EINVAL;
	return !!(atomic_load_explicit(&ch->word, memory_order_acquire) & CHAN_CLOSED);
}

long wf_chan_len(const wf_chan *ch)
{
	struct wf_chan_stats st;

	if (!ch)
		return -EINVAL;
	wf_chan_stats(ch, &st);
	return (long)st.depth;
}

int wf_chan_stats(const wf_chan *ch, struct wf_chan_stats *st)
{
	wf_chan *c = (wf_chan *)ch;	/* the lock is not part of the value */
	uint64_t head, tail;

	if (!ch || !st)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	head = atomic_load_explicit(&c->head, memory_order_relaxed);
	tail = atomic_load_explicit(&c->tail, memory_order_relaxed);
	st->sends = tail + c->parked;
	st->recvs = head;
	st->depth = tail > head ? tail - head + c->parked : c->parked;
	st->high_water = atomic_load_explicit(&c->high_water, memory_order_relaxed);
	st->capacity = c->unbounded ? 0 : c->cap;
	st->blocked_sends = c->blocked;
	st->closed = !!(atomic_load_explicit(&c->word, memory_order_relaxed) & CHAN_CLOSED);
	st->unbounded = c->unbounded;
	pthread_mutex_unlock(&c->lock);
	return 0;
}
