/*
** runtime/payload.h: Lua values copied between lua_States as bytes.
**
** Processes never share Lua objects (DESIGN.md, "Messages are copied"): the
** sender encodes the values of a message into a struct payload, which owns
** a compact byte buffer outside every Lua heap, and the receiver decodes it
** into its own state when the message is read.
**
** What survives the copy: nil, booleans, integers, floats, strings, tables
** (deep copy; a table reachable twice is copied twice; metatables are
** dropped) and error objects (message, kind, retryable, details, stack and
** wrapped cause). Functions, threads, light userdata and every other
** userdata become nil. A cyclic table, nesting deeper than PAYLOAD_MAXDEPTH
** or an encoding larger than PAYLOAD_MAXBYTES is refused.
**
** Encodings of up to PAYLOAD_INLINE bytes (a number, a short string, a tiny
** table) live inside the struct itself, so such sends allocate nothing;
** larger ones take exactly one malloc'd block. The struct may be moved with
** memcpy; whoever holds it last calls payload_free. The format is in host
** byte order: payloads never leave the process.
*/
#ifndef RUNTIME_PAYLOAD_H
#define RUNTIME_PAYLOAD_H

#include <stdint.h>

#include <lua.h>

#define PAYLOAD_INLINE   24
#define PAYLOAD_MAXDEPTH 64
#define PAYLOAD_MAXBYTES (1u << 30)

struct payload {
	uint32_t len;           /* encoded bytes */
	uint32_t nvalues;       /* top-level values */
	union {
		uint8_t *heap;                  /* len > PAYLOAD_INLINE */
		uint8_t inl[PAYLOAD_INLINE];    /* len <= PAYLOAD_INLINE */
	} _u;
};

/* The encoded bytes of p (len of them). */
static inline const uint8_t *payload_data(const struct payload *p)
{
	return p->len > PAYLOAD_INLINE ? p->_u.heap : p->_u.inl;
}

/*
** Encode the n values at stack slots first..first+n-1 (n may be 0) into
** *out, which the caller then owns. Returns 0, or a negative errno and *out
** untouched: -ELOOP for a cyclic table, -EMLINK for nesting deeper than
** PAYLOAD_MAXDEPTH, -E2BIG past PAYLOAD_MAXBYTES, -ENOMEM if the Lua stack
** cannot grow. Never raises and never runs Lua code (raw access only), so
** it may be called unprotected. Buffer memory comes from xmalloc (the
** runtime heap, not the sender's Lua allocator). [-0, +0, -]
*/
int payload_encode(lua_State *L, int first, int n, struct payload *out);

/*
** Push the values of p onto L and return how many (p->nvalues). The buffer
** is validated as it is read: a truncated or corrupt one returns -EINVAL
** and leaves the stack as it was; -ENOMEM if the stack cannot hold the
** values. Allocation failures in L raise a Lua memory error, so call it in
** protected mode (from a lua_CFunction, or under lua_pcall); whatever was
** built before the error is ordinary garbage of L. [-0, +n, m]
*/
int payload_decode(lua_State *L, const struct payload *p);

/* Make dst an independent copy of src (one allocation for a heap payload,
** none for an inline one); dst's old contents are not freed. Never fails. */
void payload_copy(struct payload *dst, const struct payload *src);

/* Release p's buffer and reset it to the empty payload. Idempotent. */
void payload_free(struct payload *p);

/* A static message for an error returned by payload_encode/decode. */
const char *payload_strerror(int err);

#endif
