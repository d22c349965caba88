/*
** engine/ud.h: the one place that encodes io_uring user_data.
**
** Layout: bits 0..7 the operation (UD_*), bits 8..63 a pointer shifted left
** by 8 (user-space pointers fit in 56 bits on x86_64 and arm64), or a small
** integer payload for operations that carry no object. The shard's loop
** dispatches every completion through one switch on ud_op().
*/
#ifndef ENGINE_UD_H
#define ENGINE_UD_H

#include <stdint.h>

enum ud_op {
	UD_NONE = 0,  /* completions nobody waits for (cancel, update, msg send) */
	UD_WAKE,      /* the shard's eventfd read or a MSG_RING wake-up */
	UD_TIMER,     /* the shard's single wheel timeout */
	UD_SIGNAL,    /* signalfd read (shard 0) */
	UD_IO,        /* a struct engine_io: call its done() */
	UD_OPS
};

static inline uint64_t ud_make(enum ud_op op, const void *ptr)
{
	return ((uint64_t)(uintptr_t)ptr << 8) | (uint64_t)op;
}

static inline uint64_t ud_make_int(enum ud_op op, uint64_t v)
{
	return (v << 8) | (uint64_t)op;
}

static inline enum ud_op ud_op(uint64_t ud) { return (enum ud_op)(ud & 0xff); }
static inline void *ud_ptr(uint64_t ud) { return (void *)(uintptr_t)(ud >> 8); }
static inline uint64_t ud_int(uint64_t ud) { return ud >> 8; }

#endif
