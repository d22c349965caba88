/*
** runtime/sha256.c: SHA-256 through OpenSSL's libcrypto (Debian's
** libssl-dev), for the "sha256:<hex>" pin of process.lua.bc entries.
*/
#include "sha256.h"

#include <openssl/evp.h>
#include <stdlib.h>

void sha256(const void *p, size_t n, unsigned char out[32])
{
	unsigned int len = 32;
	/* EVP_Digest fails only when the library cannot allocate. */
	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32)
		abort();
}

void sha256_hex(const void *p, size_t n, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[32];
	sha256(p, n, d);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
}
