/*
** test/unit/runtime/log.c: the log sink.
**
** Exact text and JSON lines for fixed records (the clock is injected),
** escaping, level filtering, truncation of records larger than the buffer,
** nesting and abort, flush on ERROR and on a full buffer, output errors
** being counted and announced, and four threads logging into one pipe with
** every line whole and each thread's lines in order.
*/
#include "runtime/log.c"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "tap.h"

static uint64_t fixed_ms = 1795342530123ull;	/* 2026-11-22T10:15:30.123Z */
static uint64_t fixed_clock(void) { return fixed_ms; }

#define TS "2026-11-22T10:15:30.123Z"

static int cap_fd = -1;
static char cap_buf[1 << 20];

/* Send log output to an empty memfd with the given level and format. */
static void capture(enum log_level min, enum log_format f)
{
	if (cap_fd < 0)
		cap_fd = memfd_create("log", 0);
	ftruncate(cap_fd, 0);
	lseek(cap_fd, 0, SEEK_SET);
	log_configure(min, f, cap_fd);
}

/* What reached the fd so far (without flushing). */
static const char *peek(void)
{
	ssize_t n = pread(cap_fd, cap_buf, sizeof cap_buf - 1, 0);

	cap_buf[n > 0 ? n : 0] = '\0';
	return cap_buf;
}

/* Flush, return the output and start a fresh capture. */
static const char *take(void)
{
	log_flush();
	peek();
	ftruncate(cap_fd, 0);
	lseek(cap_fd, 0, SEEK_SET);
	return cap_buf;
}

static int expect(const char *got, const char *want, const char *what)
{
	int same = strcmp(got, want) == 0;

	ok(same, "%s", what);
	if (!same)
		printf("#  got: %s#  want: %s", got, want);
	return same;
}

static void test_text_format(void)
{
	struct log_rec *r;

	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	r = log_begin(LOG_LEVEL_INFO, "stats", 5);
	log_field_int(r, "alive", 10000);
	log_field_int(r, "tick_rate", 423);
	log_end(r);
	expect(take(), TS " INFO  stats                {\"alive\": 10000, \"tick_rate\": 423}\n",
	       "text: the mass-spawn stats line");

	r = log_begin(LOG_LEVEL_INFO, "mass spawn starting", 19);
	log_field_int(r, "num_workers", 10000);
	log_end(r);
	r = log_begin(LOG_LEVEL_WARN, "a message longer than the column", 32);
	log_field_bool(r, "x", 1);
	log_end(r);
	r = log_begin(LOG_LEVEL_ERROR, "no fields", 9);
	log_end(r);
	expect(take(),
	       TS " INFO  mass spawn starting  {\"num_workers\": 10000}\n"
	       TS " WARN  a message longer than the column  {\"x\": true}\n"
	       TS " ERROR no fields\n",
	       "text: column padding, long message, no braces without fields");

	r = log_begin(LOG_LEVEL_INFO, "types", 5);
	log_field_str(r, "s", "hi", 2);
	log_field_num(r, "f", 0.027);
	log_field_num(r, "g", 3.0);
	log_field_num(r, "nan", NAN);
	log_field_num(r, "inf", -INFINITY);
	log_field_int(r, "neg", INT64_MIN);
	log_field_bool(r, "no", 0);
	log_field_null(r, "nil");
	log_field_raw_json(r, "raw", "[1,2]", 5);
	log_obj_begin(r, "obj");
	log_field_int(r, "a", 1);
	log_arr_begin(r, "arr");
	log_field_int(r, NULL, 1);
	log_field_str(r, NULL, "two", 3);
	log_obj_begin(r, NULL);
	log_obj_end(r);
	log_arr_end(r);
	log_obj_end(r);
	log_arr_begin(r, "empty");
	log_arr_end(r);
	log_end(r);
	expect(take(),
	       TS " INFO  types                {\"s\": \"hi\", \"f\": 0.027, \"g\": 3.0, "
	       "\"nan\": null, \"inf\": null, \"neg\": -9223372036854775808, "
	       "\"no\": false, \"nil\": null, \"raw\": [1,2], "
	       "\"obj\": {\"a\": 1, \"arr\": [1, \"two\", {}]}, \"empty\": []}\n",
	       "text: every value type, nested objects and arrays");
}

static void test_json_format(void)
{
	struct log_rec *r;

	capture(LOG_LEVEL_DEBUG, LOG_FORMAT_JSON);
	r = log_begin(LOG_LEVEL_INFO, "stats", 5);
	log_field_int(r, "alive", 10000);
	log_field_int(r, "tick_rate", 423);
	log_end(r);
	r = log_begin(LOG_LEVEL_DEBUG, "bare", 4);
	log_end(r);
	r = log_begin(LOG_LEVEL_WARN, "nest", 4);
	log_obj_begin(r, "o");
	log_arr_begin(r, "a");
	log_field_num(r, NULL, 1.5);
	log_field_null(r, NULL);
	log_arr_end(r);
	log_obj_end(r);
	log_end(r);
	expect(take(),
	       "{\"ts\":\"" TS "\",\"level\":\"info\",\"msg\":\"stats\",\"alive\":10000,\"tick_rate\":423}\n"
	       "{\"ts\":\"" TS "\",\"level\":\"debug\",\"msg\":\"bare\"}\n"
	       "{\"ts\":\"" TS "\",\"level\":\"warn\",\"msg\":\"nest\",\"o\":{\"a\":[1.5,null]}}\n",
	       "json: fixed records");

	log_printf(LOG_LEVEL_ERROR, "{\"shard\": 3,\n \"ring\": \"x\"}", "shard %d down", 3);
	expect(take(),
	       "{\"ts\":\"" TS "\",\"level\":\"error\",\"msg\":\"shard 3 down\",\"shard\": 3,  \"ring\": \"x\"}\n",
	       "json: log_printf splices fields_json members, newline becomes space");

	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	log_printf(LOG_LEVEL_INFO, "{\"shard\":3}", "listening on %s", ":8080");
	log_printf(LOG_LEVEL_INFO, " { } ", "empty fields");
	log_info("macro %d", 7);
	expect(take(),
	       TS " INFO  listening on :8080   {\"shard\":3}\n"
	       TS " INFO  empty fields\n"
	       TS " INFO  macro 7\n",
	       "text: log_printf and log_info");
}

static void test_escaping(void)
{
	struct log_rec *r;
	static const char msg[] = "say \"hi\"\n\tC:\\x\x01\x7f";
	static const char val[] = "a\"b\\c\nd\re\x1f" "f\xc3\xa9g\xff\xe2\x82";

	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	r = log_begin(LOG_LEVEL_INFO, msg, sizeof msg - 1);
	log_field_str(r, "k\"\n", val, sizeof val - 1);
	log_end(r);
	expect(take(),
	       TS " INFO  say \"hi\"\\n\\tC:\\x\\u0001\x7f  "
	       "{\"k\\\"\\n\": \"a\\\"b\\\\c\\nd\\re\\u001ff\xc3\xa9g\\ufffd\\ufffd\\ufffd\"}\n",
	       "text: message keeps quotes, escapes controls; fields JSON-escaped; bad UTF-8 is U+FFFD");

	capture(LOG_LEVEL_INFO, LOG_FORMAT_JSON);
	r = log_begin(LOG_LEVEL_INFO, msg, sizeof msg - 1);
	log_end(r);
	r = log_begin(LOG_LEVEL_INFO, "m\xc0\x80\xed\xa0\x80\xf4\x90\x80\x80\xf0\x9f\x98\x80", 14);
	log_end(r);
	expect(take(),
	       "{\"ts\":\"" TS "\",\"level\":\"info\",\"msg\":\"say \\\"hi\\\"\\n\\tC:\\\\x\\u0001\x7f\"}\n"
	       "{\"ts\":\"" TS "\",\"level\":\"info\",\"msg\":\"m\\ufffd\\ufffd"
	       "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\xf0\x9f\x98\x80\"}\n",
	       "json: message escaped; overlong, surrogate, >U+10FFFF rejected; emoji kept");
}

static void test_levels(void)
{
	struct log_rec *r;

	capture(LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
	ok(!log_enabled(LOG_LEVEL_INFO) && log_enabled(LOG_LEVEL_WARN) &&
	   log_enabled(LOG_LEVEL_ERROR), "min WARN: log_enabled");
	log_debug("d");
	log_info("i");
	log_warn("w");
	r = log_begin(LOG_LEVEL_INFO, "x", 1);
	ok(r == INERT, "disabled level gives the inert record");
	log_field_int(r, "a", 1);
	log_obj_begin(r, "o");
	log_obj_end(r);
	log_end(r);
	log_abort(r);
	expect(take(), TS " WARN  w\n", "min WARN: only warn written");

	capture(LOG_LEVEL_SILENT, LOG_FORMAT_TEXT);
	log_error("e");
	ok(!log_enabled(LOG_LEVEL_ERROR), "silent: nothing enabled");
	expect(take(), "", "silent: nothing written");

	capture(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT);
	log_debug("d");
	expect(take(), TS " DEBUG d\n", "min DEBUG: debug written");
}

static void test_clock(void)
{
	static const struct { uint64_t ms; const char *want; } c[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ 951868799999ull, "2000-02-29T23:59:59.999Z" },
		{ 951868800000ull, "2000-03-01T00:00:00.000Z" },
		{ 4102444799999ull, "2099-12-31T23:59:59.999Z" },
		{ 1709164800042ull, "2024-02-29T00:00:00.042Z" },
	};
	size_t i;
	char want[128];

	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	for (i = 0; i < countof(c); i++) {
		fixed_ms = c[i].ms;
		log_info("t");
		snprintf(want, sizeof want, "%s INFO  t\n", c[i].want);
		expect(take(), want, c[i].want);
	}
	fixed_ms = 1795342530123ull;
}

/* The fast float path must print exactly what %.14g prints. */
static void test_numbers(void)
{
	static const double fixed[] = {
		0, -0.0, 1, -1, 3, 0.5, 0.027, 123.456, 1e-4, 1.2e-4, 1e-5,
		99999999999999.0, 1e14, 0.1 + 0.2, 1.0 / 3, 1e8 + 0.5, 2e-300,
	};
	char a[48], b[48];
	int i, n, bad = 0, fast = 0;
	uint64_t x = 88172645463325252ull;

	for (i = 0; i < 300000; i++) {
		double v;

		if (i < (int)countof(fixed)) {
			v = fixed[i];
		} else {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;	/* xorshift */
			switch (i % 3) {
			case 0: v = (double)(x % 100000000) / (double)(1u << (x >> 59)); break;
			case 1: v = (double)(int64_t)(x % 2000001 - 1000000) / 1000.0; break;
			default: memcpy(&v, &x, sizeof v); if (!isfinite(v)) continue;
			}
		}
		n = fast_g(a, v);
		if (n == 0)
			continue;
		fast++;
		a[n] = '\0';
		snprintf(b, sizeof b, "%.14g", v);
		if (strcmp(a, b) != 0 && bad++ < 3)
			printf("# %.17g: fast %s, printf %s\n", v, a, b);
	}
	ok(bad == 0 && fast > 100000, "fast float formatting equals %%.14g (%d fast, %d bad)",
	   fast, bad);
}

static void test_flush_points(void)
{
	struct log_rec *r;
	int i, lines = 0;
	const char *s;

	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	log_info("buffered");
	ok(strcmp(peek(), "") == 0, "an INFO record stays in the buffer");
	log_error("boom");
	ok(strcmp(peek(), TS " INFO  buffered\n" TS " ERROR boom\n") == 0,
	   "an ERROR record flushes at once, after what came before");
	take();

	/* Twice the buffer's worth, never flushed by hand. */
	for (i = 0; i < 2 * LOG_BUF_SIZE / 64; i++) {
		r = log_begin(LOG_LEVEL_INFO, "fill", 4);
		log_field_int(r, "i", i);
		log_end(r);
	}
	s = peek();
	ok(strlen(s) > LOG_BUF_SIZE / 2, "a full buffer is written without log_flush");
	s = take();
	for (i = 0; *s; i++) {
		char want[96];
		int n = snprintf(want, sizeof want,
				 TS " INFO  fill                 {\"i\": %d}\n", i);
		if (strncmp(s, want, (size_t)n) != 0)
			break;
		s += n;
		lines++;
	}
	ok(lines == 2 * LOG_BUF_SIZE / 64 && *s == '\0',
	   "all %d lines in order (%d)", 2 * LOG_BUF_SIZE / 64, lines);
}

static void test_truncation(void)
{
	struct log_rec *r;
	char *big = malloc(100000);
	const char *s;
	size_t n;
	int i;

	memset(big, 'x', 100000);
	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	log_info("before");
	r = log_begin(LOG_LEVEL_INFO, "big", 3);
	log_field_int(r, "a", 1);
	log_field_str(r, "huge", big, 100000);
	log_field_int(r, "after", 2);
	log_end(r);
	expect(take(),
	       TS " INFO  before\n"
	       TS " INFO  big                  {\"a\": 1, \"truncated\": true}\n",
	       "text: a field larger than the buffer is dropped and marked");

	r = log_begin(LOG_LEVEL_INFO, "big", 3);
	log_obj_begin(r, "o");
	log_field_str(r, "huge", big, 100000);
	log_obj_end(r);
	log_end(r);
	expect(take(), TS " INFO  big                  {\"truncated\": true}\n",
	       "text: a nested field too big cuts back to the top level");

	capture(LOG_LEVEL_INFO, LOG_FORMAT_JSON);
	r = log_begin(LOG_LEVEL_INFO, "big", 3);
	log_field_int(r, "a", 1);
	log_field_raw_json(r, "raw", big, 100000);
	log_end(r);
	expect(take(),
	       "{\"ts\":\"" TS "\",\"level\":\"info\",\"msg\":\"big\",\"a\":1,\"truncated\":true}\n",
	       "json: the truncated record is still one JSON object");

	/* Many fields that each fit but together overflow. */
	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	r = log_begin(LOG_LEVEL_INFO, "many", 4);
	for (i = 0; i < 200; i++)
		log_field_str(r, "f", big, 1000);
	log_end(r);
	s = take();
	n = strlen(s);
	ok(n <= LOG_BUF_SIZE && n > LOG_BUF_SIZE - 1100 &&
	   strcmp(s + n - 21, ", \"truncated\": true}\n") == 0 &&
	   strchr(s, '\n') == s + n - 1,
	   "text: many fields cut at the last whole field (%zu bytes)", n);

	/* A message longer than LOG_MSG_MAX is cut with "...". */
	r = log_begin(LOG_LEVEL_INFO, big, 100000);
	log_field_int(r, "k", 1);
	log_end(r);
	s = take();
	n = strlen(s);
	ok(n == 25 + 6 + LOG_MSG_MAX + 3 + 2 + 8 + 1 &&
	   strncmp(s + 31 + LOG_MSG_MAX, "...  {\"k\": 1}\n", 14) == 0,
	   "text: the message is cut at LOG_MSG_MAX with ...");
	free(big);
}

static void test_nesting(void)
{
	struct log_rec *outer, *inner, *r;
	int i;

	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	log_info("first");
	outer = log_begin(LOG_LEVEL_INFO, "outer", 5);
	log_field_int(outer, "a", 1);
	inner = log_begin(LOG_LEVEL_WARN, "inner", 5);
	log_field_int(inner, "b", 2);
	log_end(inner);
	log_field_int(outer, "c", 3);
	log_end(outer);
	expect(take(),
	       TS " INFO  first\n"
	       TS " WARN  inner                {\"b\": 2}\n"
	       TS " INFO  outer                {\"a\": 1, \"c\": 3}\n",
	       "a record nested in another is committed first, both whole");

	outer = log_begin(LOG_LEVEL_INFO, "outer", 5);
	log_field_int(outer, "a", 1);
	inner = log_begin(LOG_LEVEL_INFO, "inner", 5);
	log_field_int(inner, "b", 2);
	log_abort(outer);
	log_info("next");
	expect(take(), TS " INFO  next\n",
	       "log_abort drops the record and the ones nested in it");

	/* Nested deeper than NEST_MAX: the extra record is inert. */
	for (i = 0; i < NEST_MAX; i++)
		log_begin(LOG_LEVEL_INFO, "n", 1);
	r = log_begin(LOG_LEVEL_INFO, "too deep", 8);
	ok(r == INERT, "record nesting past NEST_MAX gives the inert record");
	for (i = NEST_MAX - 1; i >= 0; i--)
		log_end(&me->recs[i]);
	expect(take(), TS " INFO  n\n" TS " INFO  n\n" TS " INFO  n\n" TS " INFO  n\n",
	       "the nested records are all written");

	/* Nested record flushes a full buffer while the outer one is open. */
	outer = log_begin(LOG_LEVEL_INFO, "outer", 5);
	log_field_int(outer, "a", 1);
	for (i = 0; i < 2 * LOG_BUF_SIZE / 64; i++) {
		inner = log_begin(LOG_LEVEL_INFO, "fill", 4);
		log_field_int(inner, "i", i);
		log_end(inner);
	}
	log_field_int(outer, "z", 26);
	log_end(outer);
	{
		const char *s = take();
		const char *last = s + strlen(s) - 1;

		while (last > s && last[-1] != '\n')
			last--;
		ok(strcmp(last, TS " INFO  outer                {\"a\": 1, \"z\": 26}\n") == 0,
		   "outer record survives flushes done by nested ones");
	}

	/* Containers nested past LOG_MAX_DEPTH become null. */
	capture(LOG_LEVEL_INFO, LOG_FORMAT_JSON);
	r = log_begin(LOG_LEVEL_INFO, "deep", 4);
	for (i = 0; i < LOG_MAX_DEPTH + 3; i++)
		log_obj_begin(r, "d");
	log_field_int(r, "x", 1);
	for (i = 0; i < LOG_MAX_DEPTH + 3; i++)
		log_obj_end(r);
	log_field_int(r, "after", 1);
	log_end(r);
	{
		char want[1024], *p = want;

		p += sprintf(p, "{\"ts\":\"" TS "\",\"level\":\"info\",\"msg\":\"deep\",");
		for (i = 0; i < LOG_MAX_DEPTH; i++)
			p += sprintf(p, "\"d\":{");
		p += sprintf(p, "\"d\":null");
		for (i = 0; i < LOG_MAX_DEPTH; i++)
			*p++ = '}';
		sprintf(p, ",\"after\":1}\n");
		expect(take(), want, "containers past LOG_MAX_DEPTH are null");
	}

	/* Unclosed containers are closed by log_end. */
	r = log_begin(LOG_LEVEL_INFO, "open", 4);
	log_arr_begin(r, "a");
	log_obj_begin(r, NULL);
	log_end(r);
	expect(take(), "{\"ts\":\"" TS "\",\"level\":\"info\",\"msg\":\"open\",\"a\":[{}]}\n",
	       "log_end closes containers left open");
}

static void test_errors(void)
{
	int p[2];
	uint64_t before = log_dropped_bytes();
	const char *s;

	/* A closed pipe: EPIPE (SIGPIPE ignored) counts as dropped. */
	signal(SIGPIPE, SIG_IGN);
	if (pipe(p) != 0)
		return;
	close(p[0]);
	log_configure(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, p[1]);
	log_info("lost line");
	log_flush();
	ok(log_dropped_bytes() == before + strlen(TS " INFO  lost line\n"),
	   "write errors are counted (%llu)",
	   (unsigned long long)(log_dropped_bytes() - before));
	close(p[1]);

	capture(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	log_info("back");
	s = take();
	ok(strcmp(s, TS " WARN  log output dropped   {\"bytes\": 41}\n"
		     TS " INFO  back\n") == 0,
	   "the loss is announced, once, with the next flush");
	log_info("again");
	s = take();
	ok(strcmp(s, TS " INFO  again\n") == 0, "then output is back to normal");
}

/* {==================================================================
** Four threads, one pipe
** =================================================================== */

#define NTHREADS 4
#define PER_THREAD 4000

static void *writer(void *arg)
{
	int id = (int)(intptr_t)arg;
	static const char pad[3000] = { [0 ... 2998] = 'p' };
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		struct log_rec *r = log_begin(LOG_LEVEL_INFO, "tick", 4);
		size_t n = (size_t)((i * 7919 + id * 104729) % 2900);

		log_field_int(r, "t", id);
		log_field_int(r, "seq", i);
		log_field_int(r, "n", (int64_t)n);
		log_field_str(r, "pad", pad, n);
		log_end(r);
		if (i % 37 == 0)
			log_flush();
	}
	log_thread_exit();
	return NULL;
}

struct sink {
	int fd;
	char *buf;
	size_t len, cap;
};

/* Read the pipe to EOF into a growing buffer. */
static void *collect(void *arg)
{
	struct sink *k = arg;
	ssize_t n;

	for (;;) {
		if (k->cap - k->len < 8192)
			k->buf = realloc(k->buf, k->cap = k->cap * 2 + 65536);
		n = read(k->fd, k->buf + k->len, k->cap - k->len);
		if (n <= 0)
			break;
		k->len += (size_t)n;
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t th[NTHREADS], rd;
	struct sink k = { 0 };
	int p[2], i, next[NTHREADS] = { 0 }, bad = 0, lines = 0;
	char *buf, *line;
	size_t len;

	if (pipe(p) != 0) {
		ok(0, "pipe");
		return;
	}
	k.fd = p[0];
	pthread_create(&rd, NULL, collect, &k);
	log_configure(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, p[1]);
	for (i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	close(p[1]);
	pthread_join(rd, NULL);
	close(p[0]);
	buf = k.buf;
	len = k.len;

	/* Every line: TS INFO  tick {"t": T, "seq": S, "n": N, "pad": "p{N}"} */
	line = buf;
	while (line < buf + len) {
		char *nl = memchr(line, '\n', (size_t)(buf + len - line));
		int t, seq, pn, off = 0;
		size_t j;

		if (!nl) {
			bad++;
			break;
		}
		*nl = '\0';
		if (sscanf(line, TS " INFO  tick                 {\"t\": %d, \"seq\": %d, \"n\": %d, \"pad\": \"%n",
			   &t, &seq, &pn, &off) != 3 || off == 0 ||
		    t < 0 || t >= NTHREADS || seq != next[t] ||
		    strlen(line + off) != (size_t)pn + 2 ||
		    strcmp(line + off + pn, "\"}") != 0) {
			if (bad++ < 3)
				printf("# bad line: %.120s\n", line);
		} else {
			for (j = 0; j < (size_t)pn; j++)
				if (line[off + j] != 'p')
					break;
			if (j != (size_t)pn)
				bad++;
			next[t]++;
		}
		lines++;
		line = nl + 1;
	}
	ok(bad == 0, "%d threads: every line whole, per-thread order kept (%d bad)",
	   NTHREADS, bad);
	ok(lines == NTHREADS * PER_THREAD, "all %d lines arrived (%d, %zu bytes)",
	   NTHREADS * PER_THREAD, lines, len);
	free(buf);
}

/* A non-blocking pipe that fills: EAGAIN is waited out, nothing lost. */
static void *drain(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char b[4096];
	size_t total = 0;
	ssize_t n;

	while ((n = read(fd, b, sizeof b)) > 0)
		total += (size_t)n;
	return (void *)(uintptr_t)total;
}

static void test_eagain(void)
{
	int p[2], i;
	pthread_t th;
	void *got;
	size_t want = 0;
	uint64_t before = log_dropped_bytes();

	if (pipe2(p, O_NONBLOCK) != 0) {
		ok(0, "pipe2");
		return;
	}
	/* The reader blocks: only the write end is non-blocking. */
	fcntl(p[0], F_SETFL, 0);
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	log_configure(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, p[1]);
	pthread_create(&th, NULL, drain, (void *)(intptr_t)p[0]);
	for (i = 0; i < 3000; i++) {
		log_info("line %06d", i);
		want += strlen(TS " INFO  line 000000\n");
	}
	log_flush();
	close(p[1]);
	pthread_join(th, &got);
	close(p[0]);
	ok((size_t)(uintptr_t)got == want && log_dropped_bytes() == before,
	   "non-blocking pipe: EAGAIN retried, %zu of %zu bytes", (size_t)(uintptr_t)got, want);
}

/* }================================================================== */

int main(void)
{
	log_set_clock(fixed_clock);
	test_text_format();
	test_json_format();
	test_escaping();
	test_levels();
	test_clock();
	test_numbers();
	test_flush_points();
	test_truncation();
	test_nesting();
	test_errors();
	test_eagain();
	test_threads();
	log_thread_exit();
	if (cap_fd >= 0)
		close(cap_fd);
	return tap_done();
}
