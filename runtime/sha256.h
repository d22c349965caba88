/*
** runtime/sha256.h: SHA-256 (FIPS 180-4) of a byte buffer, for checking
** the "sha256:<hex>" hash a process.lua.bc entry gives for its bytecode.
*/
#ifndef RUNTIME_SHA256_H
#define RUNTIME_SHA256_H

#include <stddef.h>

/* Write the digest of p[0..n) to out. Pure; any thread. */
void sha256(const void *p, size_t n, unsigned char out[32]);

/* Write the digest of p[0..n) as 64 lower-case hex digits and a NUL. */
void sha256_hex(const void *p, size_t n, char out[65]);

#endif
