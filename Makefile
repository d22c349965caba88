# Makefile: build, test, bench and run the wippy runtime.
#
#   make                      build build/wippy (release: -O2 -g)
#   make test                 unit + integration tests, one process each
#   make test SANITIZER=thread   (or address, undefined) in build-<san>/
#   make bench                benchmarks under bench/, ratios against baselines
#   make run                  run the mass-spawn example (Ctrl+C to stop)
#   make layers               check the floors' includes (make test runs it)
#   make soak                 10-minute soak: http-spawn, 100k processes, chaos app
#   make fuzz                 fuzz the HTTP parser, the eraser, the payload and JSON codecs
#                             and the registry loader, FUZZ_SECONDS (60) each
#
# The three floors are three static archives, linked in this order:
# lua_modules/ (libmodules.a), runtime/ (libruntime.a), engine/
# (libengine.a). A call up a floor does not resolve at link time, as Lua's
# makefile keeps CORE_O and LIB_O apart; `make layers` checks the includes.
# runtime/main.c and runtime/testrun.c sit on top (they hand the Lua
# libraries to the runtime) and go into the binary itself.
# test/unit/<dir>/<name>.c and bench/<name>.c are one program each, linked
# against the three archives.

CC       ?= cc
SANITIZER ?=
V        ?= 0

ifeq ($(SANITIZER),)
BUILD    := build
else ifneq ($(filter-out address thread undefined,$(SANITIZER)),)
$(error SANITIZER=$(SANITIZER): use address, thread or undefined)
else
BUILD    := build-$(SANITIZER)
endif

PKGS     := lua5.4 liburing libfyaml uuid libssl libcrypto libpcre2-8 sqlite3 libcurl libpq zlib libnats
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -llua5.4 -luring -lfyaml -luuid -lssl -lcrypto -lpcre2-8 -lsqlite3 -lcurl -lpq -lz -lnats)

# Lua links statically when Debian's archive is there (liblua5.4-dev ships
# one): the interpreter is most of a process's CPU, and the shared library
# is position-independent code reached through the PLT. LUA_STATIC=0 links
# the shared library instead.
LUA_STATIC ?= 1
LUA_A      := $(shell pkg-config --variable=libdir lua5.4 2>/dev/null)/liblua5.4.a
ifeq ($(LUA_STATIC)$(wildcard $(LUA_A)),1$(LUA_A))
PKG_LIBS   := $(filter-out -llua5.4,$(PKG_LIBS)) $(LUA_A) -ldl
# The collector's steps are counted by wrapping two of the archive's
# internal functions (runtime/luagc.c); -u pulls the wrappers from
# libruntime.a, which the linker has passed when Lua's objects ask.
LUA_GC_WRAP := -Wl,--wrap=luaC_step,--wrap=luaC_fullgc \
               -Wl,-u,__wrap_luaC_step,-u,__wrap_luaC_fullgc
LUA_GC_DEF  := -DWIPPY_LUA_GC_WRAP
endif

WARN := -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-align -Wwrite-strings \
        -Wmissing-prototypes -Wstrict-prototypes -Wold-style-definition \
        -Wundef -Wformat=2 -Wvla -Wno-unused-parameter \
        -Werror=implicit-function-declaration

OPT      ?= -O2
CFLAGS   := -std=gnu11 -g $(OPT) $(WARN) -pthread -D_GNU_SOURCE \
            -I. $(PKG_CFLAGS) -MMD -MP $(LUA_GC_DEF) $(EXTRA_CFLAGS)
LDFLAGS  := -pthread $(LUA_GC_WRAP) $(EXTRA_LDFLAGS)
LDLIBS   := $(PKG_LIBS) -lm

ifneq ($(SANITIZER),)
CFLAGS  += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -O1
LDFLAGS += -fsanitize=$(SANITIZER)
endif

ifeq ($(V),0)
Q = @
E = @echo
else
Q =
E = @true
endif

TOP_SRC   := runtime/main.c runtime/testrun.c
ENG_OBJ   := $(patsubst %.c,$(BUILD)/obj/%.o,$(sort $(wildcard engine/*.c)))
RT_OBJ    := $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out $(TOP_SRC),$(sort $(wildcard runtime/*.c))))
MOD_OBJ   := $(patsubst %.c,$(BUILD)/obj/%.o,$(sort $(wildcard lua_modules/*.c)))
LIB_OBJ   := $(MOD_OBJ) $(RT_OBJ) $(ENG_OBJ)
MAIN_OBJ  := $(TOP_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC  := $(sort $(wildcard test/unit/*/*.c))
TEST_BIN  := $(TEST_SRC:test/unit/%.c=$(BUILD)/test/%)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
LIBS      := $(BUILD)/libmodules.a $(BUILD)/libruntime.a $(BUILD)/libengine.a
BIN       := $(BUILD)/wippy

.PHONY: all deps test unit bench run clean fuzz layers soak

all: $(BIN)

deps:
	$(Q)bash scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	$(Q)mkdir -p $(dir $@)
	$(E) "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libmodules.a: $(MOD_OBJ)
$(BUILD)/libruntime.a: $(RT_OBJ)
$(BUILD)/libengine.a: $(ENG_OBJ)
$(LIBS):
	$(E) "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(LIBS)
	$(E) "  LINK    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
	$(Q)[ "$(BUILD)" = build ] || ln -sf ../$(BIN) build/wippy-$(SANITIZER) 2>/dev/null || true

# A unit test may #include the .c it tests; the archives supply the rest.
$(BUILD)/test/%: test/unit/%.c $(LIBS)
	$(Q)mkdir -p $(dir $@)
	$(E) "  TEST    $<"
	$(Q)$(CC) $(CFLAGS) -Itest -o $@ $< $(LIBS) $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIBS)
	$(Q)mkdir -p $(dir $@)
	$(E) "  BENCH   $<"
	$(Q)$(CC) $(CFLAGS) -O2 -o $@ $< $(LIBS) $(LDFLAGS) $(LDLIBS)

unit: $(TEST_BIN) $(BIN)

test: deps layers
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)BUILD=$(BUILD) SANITIZER=$(SANITIZER) bash test/run.sh

# The floors, by includes (scripts/layers.sh); the archives check the calls.
layers:
	$(Q)bash scripts/layers.sh

bench: deps
	$(Q)bash scripts/deps.sh bench
	$(Q)$(MAKE) --no-print-directory $(BENCH_BIN) $(BIN)
	$(Q)BUILD=$(BUILD) bash bench/run.sh

# The long run (not in CI): http-spawn under wrk, 30,000 ticking
# processes and the chaos app at once, SOAK_SECONDS (600) at most.
soak: deps
	$(Q)$(MAKE) --no-print-directory $(BIN)
	$(Q)BUILD=$(BUILD) bash scripts/soak.sh

run: deps
	$(Q)$(MAKE) --no-print-directory $(BIN)
	$(Q)cd examples/mass-spawn && ../../$(BIN) run

# libFuzzer (clang) on each of FUZZ_TARGETS; FUZZ_SECONDS bounds each run.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= http1 erase payload json registry
fuzz: deps
	$(Q)for t in $(FUZZ_TARGETS); do BUILD=$(BUILD) bash test/fuzz/run.sh $(FUZZ_SECONDS) $$t || exit 1; done

clean:
	rm -rf build build-address build-thread build-undefined

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(TEST_BIN:%=%.d) $(BENCH_BIN:%=%.d)
