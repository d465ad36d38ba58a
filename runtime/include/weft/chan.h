/* SPDX-License-Identifier: MIT */
/*
 * weft/chan.h - message passing between tasks: notify, bounded MPSC
 * channels, oneshot, broadcast, watch, and select over several of them.
 *
 * Messages are fixed-size byte copies: every object is created with the
 * size of one element (like a typed channel in Go or Rust), and send and
 * receive copy exactly that many bytes from and to the caller's buffer.
 * To pass pointers, create the object with sizeof(void *) and send &p.
 *
 * Conventions (as everywhere in weft): 0 or a non-negative count on
 * success, a negative errno value on failure. A call that can suspend
 * returns -EPERM outside a weft task and -ECANCELED once the calling task
 * is cancelled; it first spends one unit of the task's cooperative budget
 * (and yields when the budget is spent). Each has an *_until variant
 * taking an absolute CLOCK_MONOTONIC deadline (WF_FOREVER: none) that
 * returns -ETIMEDOUT when the deadline passes first. A wait that ends by
 * timeout or cancellation leaves the object as if it had never been
 * called: no message consumed, none sent, no slot or permit held.
 * The try_* calls, the close calls and every call that never suspends
 * (notify, oneshot send, broadcast send, watch send) work from any
 * thread, runtime or not, and wake the tasks they should.
 * See docs/channels.md and wf_chan(3).
 */
#ifndef WEFT_CHAN_H
#define WEFT_CHAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- notify --------------------------------------------------------------- */

/*
 * A wf_notify wakes tasks without passing data (Tokio's Notify). It holds
 * at most one permit: wf_notify_one() with no task waiting stores it, and
 * the next wf_notify_wait() takes it and returns at once.
 */
typedef struct wf_notify wf_notify;

/* Returns 0 with *@np set; -EINVAL for NULL; -ENOMEM. */
int wf_notify_new(wf_notify **np);

/* Free @n (NULL is ignored). No task may be waiting on it. */
void wf_notify_free(wf_notify *n);

/*
 * wf_notify_one - wake the longest-waiting task, or store the permit if no
 * task waits (a second call with no waiter changes nothing: one permit at
 * most). Any thread. Returns 0; -EINVAL for NULL.
 */
int wf_notify_one(wf_notify *n);

/*
 * wf_notify_all - wake every task waiting now; stores no permit, so a
 * task that starts waiting afterwards waits for the next notification.
 * Any thread. Returns the number of tasks woken; -EINVAL for NULL.
 */
int wf_notify_all(wf_notify *n);

/*
 * wf_notify_wait - take the stored permit, or wait for a notification.
 * Returns 0; -EINVAL; -EPERM; -ECANCELED (no permit taken).
 */
int wf_notify_wait(wf_notify *n);

/* wf_notify_wait() with a deadline: -ETIMEDOUT (no permit taken). */
int wf_notify_wait_until(wf_notify *n, uint64_t deadline_ns);

/* --- MPSC channel ---------------------------------------------------------- */

/*
 * A wf_chan is a FIFO queue of messages from any number of senders to one
 * receiver (several receivers work, each message going to one of them,
 * but nothing is promised about which). Bounded: a sender waits while
 * the channel holds @capacity messages (backpressure), and blocked
 * senders are served in the order they arrived. Messages of one sender
 * arrive in the order it sent them.
 */
typedef struct wf_chan wf_chan;

/* Largest capacity and element size accepted. */
#define WF_CHAN_MAX_CAPACITY (1u << 30)
#define WF_CHAN_MAX_ELEM (1u << 20)

/*
 * wf_chan_new - create a bounded channel of @capacity messages of
 * @elem_size bytes each. Memory for all of them is allocated now.
 * Returns 0 with *@chp set; -EINVAL for NULL @chp, a zero or too large
 * size or capacity; -ENOMEM.
 */
int wf_chan_new(wf_chan **chp, size_t elem_size, size_t capacity);

/*
 * wf_chan_new_unbounded - create a channel whose sends never wait: past
 * an internal ring of 256 messages, each message is queued in its own
 * allocation. Use it only where the producer is bounded by other means;
 * wf_chan_stats() reports its depth and high-water mark.
 * Returns 0; -EINVAL; -ENOMEM.
 */
int wf_chan_new_unbounded(wf_chan **chp, size_t elem_size);

/*
 * wf_chan_free - free @ch and any message still queued (NULL is ignored).
 * No task may be using it or waiting on it.
 */
void wf_chan_free(wf_chan *ch);

/*
 * wf_chan_send - copy the message at @msg into @ch, waiting while the
 * channel is full. Returns 0 once the message is queued (it will be
 * received unless the channel is freed first); -EPIPE when the channel
 * is or gets closed (message not queued); -EINVAL for NULL; -EPERM;
 * -ECANCELED (message not queued); -ENOMEM (unbounded only).
 */
int wf_chan_send(wf_chan *ch, const void *msg);

/* wf_chan_send() with a deadline: -ETIMEDOUT (message not queued). */
int wf_chan_send_until(wf_chan *ch, const void *msg, uint64_t deadline_ns);

/*
 * wf_chan_try_send - queue the message if there is room now, never wait.
 * Any thread. Returns 0; -EAGAIN when full (or when senders are already
 * waiting: a try_send never overtakes them); -EPIPE when closed; -EINVAL;
 * -ENOMEM (unbounded only).
 */
int wf_chan_try_send(wf_chan *ch, const void *msg);

/*
 * wf_chan_recv - copy the oldest message into @buf, waiting while the
 * channel is empty. Returns 0; -EPIPE when the channel is closed and
 * every message queued before the close has been received; -EINVAL;
 * -EPERM; -ECANCELED (nothing consumed).
 */
int wf_chan_recv(wf_chan *ch, void *buf);

/* wf_chan_recv() with a deadline: -ETIMEDOUT (nothing consumed). */
int wf_chan_recv_until(wf_chan *ch, void *buf, uint64_t deadline_ns);

/*
 * wf_chan_try_recv - receive a message if one is queued, never wait.
 * Any thread. Returns 0; -EAGAIN when empty; -EPIPE when closed and
 * drained; -EINVAL.
 */
int wf_chan_try_recv(wf_chan *ch, void *buf);

/*
 * wf_chan_recv_many - wait for at least one message, then receive as
 * many as are queued, up to @max, into the array at @buf (@max elements).
 * Returns the number received (1..@max, at most INT_MAX); -EPIPE when
 * closed and drained; -EINVAL (NULL, @max 0); -EPERM; -ECANCELED.
 */
int wf_chan_recv_many(wf_chan *ch, void *buf, size_t max);

/* wf_chan_recv_many() with a deadline: -ETIMEDOUT (nothing consumed). */
int wf_chan_recv_many_until(wf_chan *ch, void *buf, size_t max, uint64_t deadline_ns);

/*
 * wf_chan_close - close @ch, from a sender or the receiver, any thread.
 * Later sends and the senders waiting now get -EPIPE; the receiver still
 * receives every message queued before, then gets -EPIPE. Closing twice
 * is harmless. Returns 0; -EINVAL for NULL.
 */
int wf_chan_close(wf_chan *ch);

/* 1 if @ch is closed, 0 if not; -EINVAL for NULL. */
int wf_chan_is_closed(const wf_chan *ch);

/*
 * wf_chan_len - messages queued now (a snapshot: senders and receivers
 * may change it at any time). Returns the count; -EINVAL for NULL.
 */
long wf_chan_len(const wf_chan *ch);

/* Counters of a channel (wf_chan_stats()). All are snapshots. */
struct wf_chan_stats {
	uint64_t depth;		/* messages queued now */
	uint64_t high_water;	/* largest depth seen since creation */
	uint64_t capacity;	/* 0 for an unbounded channel */
	uint64_t sends;		/* messages queued since creation */
	uint64_t recvs;		/* messages received since creation */
	uint64_t blocked_sends;	/* sends that found it full: they waited
				 * (bounded) or spilled past the ring
				 * (unbounded) */
	uint32_t closed;	/* 1 once closed */
	uint32_t unbounded;	/* 1 for wf_chan_new_unbounded() */
};

/* Fill *@st. Returns 0; -EINVAL for NULL. Any thread. */
int wf_chan_stats(const wf_chan *ch, struct wf_chan_stats *st);

/*
 * Pointer-sized messages: send the value of @p / receive one into *@pp.
 * The channel must have been created with elem_size == sizeof(void *)
 * (-EINVAL otherwise). Errors as wf_chan_send() / wf_chan_recv().
 */
int wf_chan_send_ptr(wf_chan *ch, void *p);
int wf_chan_recv_ptr(wf_chan *ch, void **pp);

/* --- oneshot ------------------------------------------------------------- */

/*
 * A wf_oneshot carries one message from one sender to one receiver. It
 * has two ends; each side gives its end back exactly once, with
 * wf_oneshot_drop_sender() and wf_oneshot_drop_receiver(), and the object
 * is freed when both have. A sender that drops its end without sending
 * makes the receiver get -EPIPE.
 */
typedef struct wf_oneshot wf_oneshot;

/* Returns 0 with *@osp set; -EINVAL for NULL or a bad size; -ENOMEM. */
int wf_oneshot_new(wf_oneshot **osp, size_t elem_size);

/*
 * wf_oneshot_send - deliver the message, never waits. Any thread.
 * Returns 0; -EALREADY when a message was sent before (the first one
 * stays); -EPIPE when the receiver has dropped its end; -EINVAL.
 */
int wf_oneshot_send(wf_oneshot *os, const void *msg);

/*
 * wf_oneshot_recv - wait for the message and copy it into @buf.
 * Returns 0; -EPIPE when the sender dropped its end without sending;
 * -EALREADY when the message was already received; -EINVAL; -EPERM;
 * -ECANCELED (the message, if it comes, stays for a later call).
 */
int wf_oneshot_recv(wf_oneshot *os, void *buf);

/* wf_oneshot_recv() with a deadline: -ETIMEDOUT. */
int wf_oneshot_recv_until(wf_oneshot *os, void *buf, uint64_t deadline_ns);

/* Receive without waiting, any thread: as wf_oneshot_recv(), or -EAGAIN. */
int wf_oneshot_try_recv(wf_oneshot *os, void *buf);

/* Give back the sender's end (once). NULL is ignored. */
void wf_oneshot_drop_sender(wf_oneshot *os);

/* Give back the receiver's end (once); later sends get -EPIPE. */
void wf_oneshot_drop_receiver(wf_oneshot *os);

/* --- broadcast ------------------------------------------------------------ */

/*
 * A wf_broadcast delivers every message to every receiver (Tokio's
 * broadcast). It keeps the last @capacity messages in a ring; senders
 * never wait and overwrite the oldest. Each receiver reads at its own
 * pace; one that falls more than @capacity messages behind gets
 * -EOVERFLOW once, wf_broadcast_lagged() says how many it missed, and it
 * continues from the oldest message still kept.
 */
typedef struct wf_broadcast wf_broadcast;
typedef struct wf_broadcast_rx wf_broadcast_rx;

/* Returns 0 with *@bp set; -EINVAL for NULL, zero or too large sizes; -ENOMEM. */
int wf_broadcast_new(wf_broadcast **bp, size_t elem_size, size_t capacity);

/*
 * wf_broadcast_subscribe - a new receiver, which sees only messages sent
 * after this call. Free it with wf_broadcast_rx_free().
 * Returns 0; -EINVAL; -ENOMEM; -EPIPE when @b is closed.
 */
int wf_broadcast_subscribe(wf_broadcast *b, wf_broadcast_rx **rxp);

/*
 * wf_broadcast_send - copy the message into the ring and wake receivers.
 * Any thread, never waits. Returns the number of receivers subscribed
 * (0 is not an error; the message is then seen by nobody); -EPIPE when
 * closed; -EINVAL.
 */
int wf_broadcast_send(wf_broadcast *b, const void *msg);

/*
 * wf_broadcast_recv - copy the next message for @rx into @buf, waiting
 * for one. Returns 0; -EOVERFLOW when @rx fell behind (nothing copied;
 * see wf_broadcast_lagged(); the next call returns the oldest message
 * kept); -EPIPE when closed and @rx has seen everything; -EINVAL;
 * -EPERM; -ECANCELED.
 */
int wf_broadcast_recv(wf_broadcast_rx *rx, void *buf);

/* wf_broadcast_recv() with a deadline: -ETIMEDOUT. */
int wf_broadcast_recv_until(wf_broadcast_rx *rx, void *buf, uint64_t deadline_ns);

/* Without waiting, any thread: as wf_broadcast_recv(), or -EAGAIN. */
int wf_broadcast_try_recv(wf_broadcast_rx *rx, void *buf);

/*
 * Number of messages @rx skipped at its last -EOVERFLOW (0 if no receive
 * on @rx ever returned -EOVERFLOW, or for NULL).
 */
uint64_t wf_broadcast_lagged(const wf_broadcast_rx *rx);

/*
 * wf_broadcast_close - no more sends (-EPIPE); receivers read what they
 * have not seen yet, then get -EPIPE. Returns 0; -EINVAL.
 */
int wf_broadcast_close(wf_broadcast *b);

/*
 * wf_broadcast_free - close @b and give back the sender's reference; the
 * memory goes when the last receiver is freed too. NULL is ignored.
 */
void wf_broadcast_free(wf_broadcast *b);

/* Unsubscribe and free @rx (NULL is ignored). No task may wait on it. */
void wf_broadcast_rx_free(wf_broadcast_rx *rx);

/* --- watch ---------------------------------------------------------------- */

/*
 * A wf_watch holds one value and a version that grows with every send
 * (Tokio's watch). Receivers wait for a value newer than the last one
 * they saw; intermediate values may be skipped: a watch is for state,
 * not for a stream of events.
 */
typedef struct wf_watch wf_watch;
typedef struct wf_watch_rx wf_watch_rx;

/*
 * wf_watch_new - a watch of @elem_size bytes holding a copy of @init
 * (version 0). Returns 0; -EINVAL for NULL or a bad size; -ENOMEM.
 */
int wf_watch_new(wf_watch **wp, size_t elem_size, const void *init);

/*
 * wf_watch_send - replace the value, bump the version and wake waiting
 * receivers. Any thread. Returns 0; -EPIPE when closed; -EINVAL.
 */
int wf_watch_send(wf_watch *w, const void *val);

/*
 * wf_watch_get - copy the current value into @buf and its version into
 * *@version (if non-NULL). Any thread. Returns 0; -EINVAL.
 */
int wf_watch_get(const wf_watch *w, void *buf, uint64_t *version);

/*
 * wf_watch_subscribe - a receiver that has seen the current value.
 * Returns 0; -EINVAL; -ENOMEM.
 */
int wf_watch_subscribe(wf_watch *w, wf_watch_rx **rxp);

/*
 * wf_watch_changed - wait until the value is newer than the last one @rx
 * saw, then mark the newest as seen. Returns 0; -EPIPE when the watch is
 * closed and @rx has seen the last value; -EINVAL; -EPERM; -ECANCELED.
 */
int wf_watch_changed(wf_watch_rx *rx);

/* wf_watch_changed() with a deadline: -ETIMEDOUT. */
int wf_watch_changed_until(wf_watch_rx *rx, uint64_t deadline_ns);

/*
 * wf_watch_rx_get - copy the current value into @buf (its version into
 * *@version if non-NULL) and mark it seen. Any thread. Returns 0; -EINVAL.
 */
int wf_watch_rx_get(wf_watch_rx *rx, void *buf, uint64_t *version);

/* 1 if a value newer than @rx's last seen is there, else 0; -EINVAL. */
int wf_watch_has_changed(const wf_watch_rx *rx);

/* No more sends (-EPIPE); wakes receivers. Returns 0; -EINVAL. */
int wf_watch_close(wf_watch *w);

/* Close @w and give back the sender's reference (NULL is ignored). */
void wf_watch_free(wf_watch *w);

/* Free @rx (NULL is ignored). No task may wait on it. */
void wf_watch_rx_free(wf_watch_rx *rx);

/* --- select --------------------------------------------------------------- */

/* What a select case does once chosen. */
enum wf_select_op {
	WF_SEL_NONE = 0,	/* disabled case, ignored (like a nil channel) */
	WF_SEL_RECV,		/* wf_chan_recv(.chan, .buf) */
	WF_SEL_SEND,		/* wf_chan_send(.chan, .buf) */
	WF_SEL_ONESHOT,		/* wf_oneshot_recv(.oneshot, .buf) */
	WF_SEL_NOTIFY,		/* wf_notify_wait(.notify) */
	WF_SEL_TIMER,		/* ready once CLOCK_MONOTONIC reaches .deadline_ns */
};

struct wf_select_case {
	int op;			/* enum wf_select_op */
	union {
		wf_chan *chan;
		wf_oneshot *oneshot;
		wf_notify *notify;
	};
	void *buf;		/* message to send, or buffer to receive into */
	uint64_t deadline_ns;	/* WF_SEL_TIMER only */
	int result;		/* out: the case's result, set only on the
				 * case that completed */
};

#define WF_SELECT_RECV(ch, b) \
	((struct wf_select_case){ .op = WF_SEL_RECV, .chan = (ch), .buf = (b) })
#define WF_SELECT_SEND(ch, m) \
	((struct wf_select_case){ .op = WF_SEL_SEND, .chan = (ch), .buf = (void *)(m) })
#define WF_SELECT_ONESHOT(os, b) \
	((struct wf_select_case){ .op = WF_SEL_ONESHOT, .oneshot = (os), .buf = (b) })
#define WF_SELECT_NOTIFY(n) ((struct wf_select_case){ .op = WF_SEL_NOTIFY, .notify = (n) })
#define WF_SELECT_TIMER(d) ((struct wf_select_case){ .op = WF_SEL_TIMER, .deadline_ns = (d) })

/* Flags of wf_select(). */
enum {
	/* Check cases in array order, not from a random start. */
	WF_SELECT_BIASED = 1u << 0,
};

/* Most cases one wf_select() takes. */
#define WF_SELECT_MAX 1024u

/*
 * wf_select - wait until one of the @n cases can complete, complete
 * exactly that one and return its index; its outcome is in
 * cases[i].result (0, or the -errno the same call made alone would
 * return: -EPIPE for a closed channel, ...). The other cases are left
 * untouched: no message received or sent, no permit taken.
 * When several are ready, the one checked first wins; checking starts at
 * a random case (fairness) unless @flags has WF_SELECT_BIASED.
 * Returns the index; -EINVAL for NULL @cases with @n > 0, @n over
 * WF_SELECT_MAX, an unknown op, a NULL object or buffer, or no enabled
 * case at all; -EPERM; -ECANCELED (no case completed); -ENOMEM (more
 * than 16 cases need an allocation).
 */
int wf_select(struct wf_select_case *cases, unsigned n, unsigned flags);

/*
 * wf_select() with a deadline: -ETIMEDOUT when no case completed by then
 * (a WF_SEL_TIMER case due no later than @deadline_ns completes instead).
 * With no enabled case it just waits for the deadline.
 */
int wf_select_until(struct wf_select_case *cases, unsigned n, unsigned flags,
		    uint64_t deadline_ns);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_CHAN_H */
