/*
** test/unit/runtime/pid.c: pids as strings, "{host|0x00004}".
**
** proc_format_pid formats by hand; it must give exactly what
** snprintf("{%s|0x%05" PRIx64 "}") gives, truncate the same way for
** every buffer size, and proc_parse_pid must read back what it wrote.
*/
#include "runtime/proc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tap.h"

int main(void)
{
	static const char *hosts[] = { "app:processes", "h", "", "x:y.z-long_host_name" };
	static const uint64_t pids[] = {
		0, 1, 0xf, 0x10, 0xabcde, 0xfffff, 0x100000, 0x123456789abcdefULL,
		UINT64_MAX,
	};
	int same = 1, trunc = 1, round = 1;
	char got[128], want[128];

	for (size_t h = 0; h < sizeof(hosts) / sizeof(*hosts); h++) {
		for (size_t i = 0; i < sizeof(pids) / sizeof(*pids); i++) {
			int n = proc_format_pid(got, sizeof(got), hosts[h], pids[i]);
			int m = snprintf(want, sizeof(want), "{%s|0x%05" PRIx64 "}",
					 hosts[h], pids[i]);
			if (n != m || strcmp(got, want) != 0) {
				same = 0;
				printf("# got %s (%d), want %s (%d)\n", got, n, want, m);
			}
			if (pids[i] != 0 && proc_parse_pid(got, (size_t)n) != pids[i])
				round = 0;
			for (size_t sz = 0; sz <= (size_t)m + 1; sz++) {
				memset(got, '#', sizeof(got));
				memset(want, '#', sizeof(want));
				n = proc_format_pid(got, sz, hosts[h], pids[i]);
				snprintf(want, sz, "{%s|0x%05" PRIx64 "}", hosts[h], pids[i]);
				if (n != m || memcmp(got, want, sizeof(got)) != 0)
					trunc = 0;
			}
		}
	}
	ok(same, "the same text and length as snprintf");
	ok(trunc, "truncated like snprintf for every buffer size");
	ok(round, "proc_parse_pid reads back every nonzero pid");
	ok(proc_parse_pid("{a|0x}", 6) == 0, "no digits: not a pid");
	ok(proc_parse_pid("a|0x1", 5) == 0, "no braces: not a pid");
	return tap_done();
}
