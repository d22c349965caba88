#!/usr/bin/env bash
# test/fuzz/run.sh [seconds] [target]: build a fuzzer with clang
# (-fsanitize=fuzzer,address,undefined) and run it for `seconds` (default 60)
# on a scratch corpus seeded from the target's seed directory. Targets:
#   http1   the HTTP/1 parser (test/fuzz/http1_fuzz.c), seeds test/fuzz/corpus/http1
#   erase   the typed-Lua eraser (test/fuzz/erase_fuzz.c), seeds the eraser's
#           conformance corpus test/fixtures/typed-lua and the Lua conformance app
#   payload the payload codec (test/fuzz/payload_fuzz.c): round trips of values
#           built from the input, and decoding the raw input; seeds
#           test/fuzz/corpus/payload
#   json    the JSON decoder and encoder (test/fuzz/json_fuzz.c), seeds
#           test/fuzz/corpus/json
#   registry the registry loader and its YAML reader (test/fuzz/registry_fuzz.c),
#           seeds test/fuzz/corpus/registry and every YAML file of the fixtures,
#           the conformance app and the examples; links the rest of the runtime
#           from the archives of $BUILD (default build), made here if missing
#
# Exit 0 when no crash was found, 1 on a crash or a build error, 77 when
# clang or libFuzzer is missing. Crash inputs are left in $FUZZ_DIR
# (default /tmp/wippy-fuzz-<target>) as crash-* files; replay one with
#   $FUZZ_DIR/<target>_fuzz $FUZZ_DIR/crash-<hash>
set -u
secs=${1:-60}
target=${2:-http1}
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${FUZZ_DIR:-/tmp/wippy-fuzz-$target}
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

flags="-std=gnu11 -g -O1 -D_GNU_SOURCE -I$root -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
case $target in
http1)
	# shellcheck disable=SC2086
	"$cc" $flags "$root/test/fuzz/http1_fuzz.c" "$root/engine/http1.c" \
		"$root/engine/common.c" -o "$dir/fuzz" || exit 1
	seeds=("$root/test/fuzz/corpus/http1")
	maxlen=12000
	# Tokens that let the mutator reach deep states quickly.
	cat >"$dir/dict" <<'DICT'
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
	;;
erase)
	# shellcheck disable=SC2086
	"$cc" $flags $(pkg-config --cflags lua5.4) "$root/test/fuzz/erase_fuzz.c" \
		"$root/runtime/erase.c" "$root/runtime/tlex.c" "$root/engine/common.c" \
		$(pkg-config --libs lua5.4) -lm -o "$dir/fuzz" || exit 1
	mkdir -p "$dir/seeds"
	find "$root/test/fixtures/typed-lua" "$root/test/lua/src" "$root/examples" \
		-name '*.lua' -size -12k -exec cp -t "$dir/seeds" {} + 2>/dev/null
	seeds=("$dir/seeds")
	maxlen=4096
	cat >"$dir/dict" <<'DICT'
"local "
"function"
"end"
"return "
": "
"::"
" as "
"type "
"interface "
"->"
"<"
">"
">>"
">="
"{"
"}"
"("
")"
"?"
"!"
"@"
"|"
"&"
"[["
"]]"
"--"
"\x0a"
"string"
"integer"
"fun("
"typeof("
"readonly"
"extends"
"asserts"
DICT
	;;
payload)
	# shellcheck disable=SC2086
	"$cc" $flags $(pkg-config --cflags lua5.4) "$root/test/fuzz/payload_fuzz.c" \
		"$root/runtime/payload.c" "$root/runtime/errors.c" "$root/engine/common.c" \
		$(pkg-config --libs lua5.4) -lm -o "$dir/fuzz" || exit 1
	seeds=("$root/test/fuzz/corpus/payload")
	maxlen=4096
	cat >"$dir/dict" <<'DICT'
"\x06\x01\x00\x00\x00\x00\x00\x00\x00"
"\x06\x00\x00\x00\x00\x01\x00\x00\x00"
"\x07\x01\x05\x01x\x05\x00"
"\x05\x03abc"
"\x03\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"
"\xc7"
DICT
	;;
json)
	# shellcheck disable=SC2086
	"$cc" $flags $(pkg-config --cflags lua5.4) "$root/test/fuzz/json_fuzz.c" \
		"$root/lua_modules/json.c" "$root/runtime/errors.c" "$root/engine/common.c" \
		$(pkg-config --libs lua5.4) -lm -o "$dir/fuzz" || exit 1
	seeds=("$root/test/fuzz/corpus/json")
	maxlen=4096
	cat >"$dir/dict" <<'DICT'
"null"
"true"
"false"
"{"
"}"
"["
"]"
":"
","
"\""
"\\u"
"\\ud83d\\ude00"
"e+"
"E-"
"-0"
"1e400"
"9223372036854775808"
DICT
	;;
registry)
	# The registry's own files are built here, with coverage; what they call
	# (conf, gotime, route, net, sha256, ...) comes from the archives.
	build=${BUILD:-build}
	make --no-print-directory -C "$root" BUILD="$build" "$build/libruntime.a" \
		"$build/libengine.a" >/dev/null || exit 1
	# shellcheck disable=SC2086
	"$cc" $flags $(pkg-config --cflags libfyaml lua5.4) "$root/test/fuzz/registry_fuzz.c" \
		"$root/runtime/registry.c" "$root"/runtime/reg_*.c "$root/runtime/yaml.c" \
		"$root/$build/libruntime.a" "$root/$build/libengine.a" -pthread \
		$(pkg-config --libs lua5.4 liburing libfyaml uuid libcrypto libpcre2-8 sqlite3 zlib) -lm \
		-o "$dir/fuzz" || exit 1
	mkdir -p "$dir/seeds"
	find "$root/test/fixtures" "$root/test/lua/src" "$root/examples" \
		\( -name '*.yaml' -o -name '*.yml' \) -size -12k -print0 2>/dev/null |
		while IFS= read -r -d '' f; do
			cp "$f" "$dir/seeds/$(printf %s "$f" | md5sum | cut -c1-16).yaml"
		done
	seeds=("$root/test/fuzz/corpus/registry" "$dir/seeds")
	maxlen=8192
	cat >"$dir/dict" <<'DICT'
"version: \"1.0\"\x0a"
"namespace: "
"entries:\x0a"
"  - name: "
"    kind: "
"process.host"
"process.lua"
"process.service"
"function.lua"
"library.lua"
"http.service"
"http.router"
"http.endpoint"
"env.storage.static"
"env.variable"
"lifecycle: "
"auto_start: true"
"depends_on: "
"source: file://"
"method: "
"modules: "
"imports: "
"meta: "
"${env:"
"&a "
"*a"
"<<: "
"!!str "
"---\x0a"
"- "
": "
"{"
"}"
"["
"]"
DICT
	;;
*)
	echo "test/fuzz/run.sh: unknown target '$target' (http1, erase, payload, json, registry)" >&2
	exit 1
	;;
esac

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
# libfyaml 0.7.12 loses an internal buffer on some malformed inputs (found
# by the registry driver: 4 KiB from its own realloc, nothing of ours on
# the stack). That leak is the library's; our own allocations stay checked.
printf 'leak:libfyaml.so\n' >"$dir/lsan.supp"
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$dir/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# FUZZ_SEED fixes libFuzzer's random seed (make test sets one, so a run
# repeats the last; make fuzz leaves it unset and explores).
# shellcheck disable=SC2086
"$dir/fuzz" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 ${FUZZ_SEED:+-seed=$FUZZ_SEED} \
	-rss_limit_mb=2048 -print_final_stats=1 $([ "$jobs" -gt 1 ] && echo -jobs="$jobs" -workers="$jobs") \
	-dict="$dir/dict" -artifact_prefix="$dir/" \
	"$dir/corpus" "${seeds[@]}"
rc=$?
[ $rc -eq 0 ] || { echo "fuzzer found a problem (exit $rc); inputs in $dir"; exit 1; }
exit 0
