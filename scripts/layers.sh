#!/usr/bin/env bash
# scripts/layers.sh: check the three floors (DESIGN.md, Layout) by their
# includes; `make layers` runs it and `make test` runs make layers.
#
#   engine/       includes nothing of runtime/ or lua_modules/, and no Lua
#   runtime/      includes nothing of lua_modules/, except main.c and
#                 testrun.c, which sit on top and hand the libraries over
#   ring and ud   engine/ring.h (the io_uring backend's API) and
#                 engine/ud.h (its user_data encoding) are the engine's own:
#                 no file outside engine/ includes them
#   liburing.h    only engine/ring.c includes it
#
# The link checks the same from the other side: engine, runtime and
# modules are three archives linked in that order (see the Makefile), so
# a call up a floor does not resolve. Exit 1 listing every violation.
set -u
cd "$(dirname "$0")/.." || exit 1
bad=0

report() { # file:line: text, why
	echo "layers: $1: $2" >&2
	bad=1
}

check() { # glob-list, pattern, why, [files to skip]
	local files=$1 pat=$2 why=$3 skip=${4:-} f hit
	for f in $files; do
		[ -f "$f" ] || continue
		case " $skip " in *" $f "*) continue ;; esac
		while IFS= read -r hit; do
			report "$f:${hit%%:*}" "$why (${hit#*:})"
		done < <(grep -nE "$pat" "$f")
	done
}

check "engine/*.c engine/*.h" '^#include[[:space:]]+["<](runtime/|lua_modules/|lua\.h|lauxlib\.h|lualib\.h)' \
	"the engine knows no runtime and no Lua"
check "runtime/*.c runtime/*.h" '^#include[[:space:]]+"lua_modules/' \
	"the runtime knows no Lua library" "runtime/main.c runtime/testrun.c"
check "runtime/*.c runtime/*.h lua_modules/*.c lua_modules/*.h bench/*.c" '^#include[[:space:]]+"engine/(ring|ud)\.h"' \
	"ring.h and ud.h are the engine's own"
check "engine/*.c engine/*.h runtime/*.c runtime/*.h lua_modules/*.c lua_modules/*.h" '^#include[[:space:]]+<liburing\.h>' \
	"only engine/ring.c includes liburing.h" "engine/ring.c"

[ $bad -eq 0 ] && echo "layers: ok (engine <- runtime <- lua_modules)"
exit $bad
