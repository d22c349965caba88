#!/usr/bin/env bash
# test/fuzz/run.sh [seconds]: build the HTTP/1 parser fuzzer with clang
# (-fsanitize=fuzzer,address,undefined) and run it for `seconds` (default 60)
# on a scratch copy of test/fuzz/corpus/http1.
#
# Exit 0 when no crash was found, 1 on a crash or a build error, 77 when
# clang or libFuzzer is missing. Crash inputs are left in $FUZZ_DIR
# (default /tmp/wippy-fuzz-http1) as crash-* files; replay one with
#   $FUZZ_DIR/http1_fuzz $FUZZ_DIR/crash-<hash>
set -u
secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${FUZZ_DIR:-/tmp/wippy-fuzz-http1}
cc=${CLANG:-clang}
jobs=${FUZZ_JOBS:-1}

command -v "$cc" >/dev/null 2>&1 || { echo "1..0 # SKIP no $cc"; exit 77; }
mkdir -p "$dir/corpus"

# libFuzzer ships separately from clang on Debian (libclang-rt-*-dev).
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
	>"$dir/probe.c"
if ! "$cc" -fsanitize=fuzzer "$dir/probe.c" -o "$dir/probe" >/dev/null 2>&1; then
	echo "1..0 # SKIP libFuzzer not available for $cc"
	exit 77
fi

"$cc" -std=gnu11 -g -O1 -D_GNU_SOURCE -I"$root" \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer \
	"$root/test/fuzz/http1_fuzz.c" "$root/engine/http1.c" "$root/engine/common.c" \
	-o "$dir/http1_fuzz" || exit 1

# Tokens that let the mutator reach deep states quickly.
cat >"$dir/http1.dict" <<'DICT'
"GET"
"POST"
"OPTIONS"
"CONNECT"
" HTTP/1.1\x0d\x0a"
" HTTP/1.0\x0d\x0a"
"\x0d\x0a"
"\x0d\x0a\x0d\x0a"
"Host: "
"Content-Length: "
"Transfer-Encoding: "
"chunked"
"Connection: "
"keep-alive"
"close"
"Expect: 100-continue"
"http://"
"0\x0d\x0a\x0d\x0a"
";ext=1"
DICT

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
"$dir/http1_fuzz" -max_total_time="$secs" -max_len=12000 -timeout=10 \
	-rss_limit_mb=2048 -print_final_stats=1 $([ "$jobs" -gt 1 ] && echo -jobs="$jobs" -workers="$jobs") \
	-dict="$dir/http1.dict" -artifact_prefix="$dir/" \
	"$dir/corpus" "$root/test/fuzz/corpus/http1"
rc=$?
[ $rc -eq 0 ] || { echo "fuzzer found a problem (exit $rc); inputs in $dir"; exit 1; }
exit 0
