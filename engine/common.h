/*
** engine/common.h: small helpers every file may use.
**
** xmalloc/xcalloc/xrealloc abort with file and line on failure, so callers
** never check for NULL after them (they are for engine and runtime memory,
** never for memory inside a Lua VM, which has its own limited allocator).
** ALWAYS/NEVER document conditions that cannot happen and, in debug builds,
** check them; testcase() marks a branch a test must reach.
*/
#ifndef ENGINE_COMMON_H
#define ENGINE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Cross-file internal symbols of the runtime; never exported from a .so. */
#define HIDDEN __attribute__((visibility("internal")))

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define countof(a) (sizeof(a) / sizeof((a)[0]))

/* Cache line size on every x86_64 and arm64 machine we run on. */
#define CACHELINE 64

#ifdef NDEBUG
#define ALWAYS(x) (x)
#define NEVER(x)  (x)
#else
#define ALWAYS(x) ((x) ? 1 : (common_assert_fail(#x, __FILE__, __LINE__), 0))
#define NEVER(x)  ((x) ? (common_assert_fail("!" #x, __FILE__, __LINE__), 1) : 0)
#endif
#define testcase(x) ((void)0)

/* Abort with a message naming the failed condition; used by ALWAYS/NEVER. */
void common_assert_fail(const char *cond, const char *file, int line)
	__attribute__((noreturn));

/* Allocate or abort with file:line. Never returns NULL. */
#define xmalloc(n)     common_xmalloc((n), __FILE__, __LINE__)
#define xcalloc(n, m)  common_xcalloc((n), (m), __FILE__, __LINE__)
#define xrealloc(p, n) common_xrealloc((p), (n), __FILE__, __LINE__)
#define xstrdup(s)     common_xstrdup((s), __FILE__, __LINE__)
void *common_xmalloc(size_t n, const char *file, int line);
void *common_xcalloc(size_t n, size_t m, const char *file, int line);
void *common_xrealloc(void *p, size_t n, const char *file, int line);
char *common_xstrdup(const char *s, const char *file, int line);

/* Monotonic clock in nanoseconds and in milliseconds. */
uint64_t common_now_ns(void);
static inline uint64_t common_now_ms(void) { return common_now_ns() / 1000000u; }

/* A spin-wait hint to the CPU (x86 PAUSE, Arm YIELD): cheaper for the
** sibling hyperthread and for the memory system than a bare loop. */
static inline void common_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#endif
