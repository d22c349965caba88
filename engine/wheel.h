/*
** engine/wheel.h: a hierarchical timer wheel with 1 ms resolution.
**
** One wheel per shard, used only by that shard's thread (no locking).
** Timers are intrusive: the caller embeds a struct wheel_timer in its own
** object and owns its memory. Insert and cancel are O(1); a far timer is
** cascaded down one level at a time as its level's slot comes due.
**
** Deadlines are absolute milliseconds on the caller's clock (the engine uses
** CLOCK_MONOTONIC). A timer never fires before its deadline; it fires during
** the first wheel_run() whose `now` is >= its deadline. Within one
** wheel_run() call timers fire in deadline order (ties in insertion order);
** the one exception is a timer a callback arms with a deadline the run has
** already passed, which fires right after the batch in progress.
**
** Clock values must stay below 2^63 ms. Callbacks must not call
** wheel_run() on their own wheel.
*/
#ifndef ENGINE_WHEEL_H
#define ENGINE_WHEEL_H

#include <stdint.h>

#define WHEEL_NEVER UINT64_MAX

struct wheel_timer;
typedef void (*wheel_cb)(struct wheel_timer *t);

/* Embed in the owning object. Zero-initialise or call wheel_timer_init(). */
struct wheel_timer {
	struct wheel_timer *_next, *_prev; /* slot list links; NULL when idle */
	uint64_t expire;                   /* absolute deadline, ms */
	wheel_cb cb;                       /* called once when it fires */
};

/* Levels x 64 slots; 6 bits per level, 7 levels cover 2^42 ms (~139 years).
** Deadlines further away are clamped to the wheel's horizon and re-armed. */
#define WHEEL_BITS   6
#define WHEEL_SLOTS  (1u << WHEEL_BITS)
#define WHEEL_LEVELS 7

struct wheel {
	uint64_t now;      /* last time the wheel was advanced to, ms; every
	                   ** deadline <= now has fired, except timers armed
	                   ** since with a deadline already behind it */
	uint64_t count;    /* timers pending (including a run's ready list) */
	uint64_t occupied[WHEEL_LEVELS]; /* bit i set when slot i is non-empty */
	uint64_t past_due; /* bit i: level 0's slot i got a past-due timer */
	struct wheel_timer slots[WHEEL_LEVELS][WHEEL_SLOTS]; /* list heads */
};

/* Initialise an empty wheel whose clock starts at now_ms. */
void wheel_init(struct wheel *w, uint64_t now_ms);

/* Prepare a timer for use with callback cb; it starts inactive. */
void wheel_timer_init(struct wheel_timer *t, wheel_cb cb);

/* Arm t to fire at expire_ms (a deadline in the past fires on the next
** wheel_run). If t is already pending it is moved, and counts as inserted
** now for tie order. O(1). */
void wheel_add(struct wheel *w, struct wheel_timer *t, uint64_t expire_ms);

/* Disarm t if pending; a no-op otherwise. O(1). Safe to call from inside
** any timer callback, including t's own. */
void wheel_cancel(struct wheel *w, struct wheel_timer *t);

/* True while t is pending. */
static inline int wheel_is_active(const struct wheel_timer *t)
{
	return t->_next != 0;
}

/* Earliest time at which wheel_run() may have something to fire, ms, or
** WHEEL_NEVER when no timer is pending. Never later than the earliest pending
** deadline; it may be earlier for a far timer that needs cascading, in which
** case the run at that time fires nothing and the caller asks again (at most
** one such wake-up per level on the way down). Returns w->now itself when a
** timer was armed with a deadline already behind the wheel clock; otherwise
** the result is > w->now. O(levels), usually one ctz. */
uint64_t wheel_next(const struct wheel *w);

/* Advance the wheel to now_ms and fire every timer whose deadline is
** <= now_ms, in deadline order. Callbacks may add and cancel timers
** (including re-arming the one that fired); a timer added during the run
** with a deadline <= now_ms fires in this same run, and a timer cancelled
** during the run does not fire even if it was due in it. Idle stretches are
** skipped using the bitmaps, so the cost does not grow with now_ms - w->now.
** A now_ms behind w->now is treated as w->now. Returns timers fired. */
uint64_t wheel_run(struct wheel *w, uint64_t now_ms);

#endif
