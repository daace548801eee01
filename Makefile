# relog: relogd (daemon/), librelog (shim/), their wire contract (proto/).
#
#   make               build everything into build/
#   make run           build, then run relogd on local defaults (build/run/)
#   make check         every test: the ABI and install checks, the Check
#                      suite, the suite under AddressSanitizer and UBSan,
#                      and the suite under valgrind
#   make test          the Check suite once (SANITIZE=1: under the sanitizers)
#   make valgrind      the Check suite with relogd and runners under memcheck
#   make bench         measure relog, and rsyslog beside it (bench/README.md)
#   make ringbench     measure the shared record ring (bench/ringbench.c)
#   make fuzz          run the frame decoder, then the shared ring's reader,
#                      under libFuzzer for FUZZ_SECONDS each
#   make install       PREFIX=/usr/local DESTDIR= ...
#
# Missing Debian packages are installed first (scripts/deps.sh); set
# NO_DEPS=1 to skip that. V=1 shows every command.

CC ?= cc
PKG_CONFIG ?= pkg-config
CFLAGS ?= -O2 -g
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
# For programs the tests load librelog into (python3): runtimes first.
SAN_RUNTIMES = $(shell $(CC) -print-file-name=libasan.so):$(shell \
	$(CC) -print-file-name=libubsan.so)
else
BUILD ?= build
SAN_FLAGS =
endif

ifeq ($(V),1)
Q =
else
Q = @
endif

WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wvla
# Recursive (=) on purpose: expanded when a recipe runs, after deps.
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags msgpack libevent libevent_openssl \
	libssl libsystemd inih)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) \
	$(CFLAGS) $(SAN_FLAGS) -Iproto -Ishim $(PKG_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SAN_FLAGS)
DAEMON_LIBS = $(shell $(PKG_CONFIG) --libs msgpack libevent libevent_openssl \
	libssl libcrypto libsystemd inih)
TEST_LIBS = $(shell $(PKG_CONFIG) --libs check msgpack)

PROTO_PACK_SRC = proto/proto-pack.c proto/proto-scan.c
PROTO_DECODE_SRC = proto/proto-decode.c
SHIM_SRC = shim/relog.c shim/flusher.c shim/ring.c
DAEMON_SRC = daemon/relogd.c daemon/client.c daemon/control.c \
	daemon/forward.c daemon/server.c \
	daemon/plugin.c daemon/sink.c daemon/journal.c daemon/state.c \
	daemon/remote.c daemon/spool.c \
	daemon/config.c \
	daemon/log.c
TEST_SRC = tests/main.c tests/harness.c tests/wire.c tests/test-ring.c \
	tests/test-codec.c tests/test-shim.c tests/test-daemon.c \
	tests/test-limits.c tests/test-ctl.c tests/test-remote.c \
	tests/test-shmring.c
# The shared record ring (PROTOCOL.md, "Shared ring"): librelog's producer
# and relogd's consumer, linked by the tests, the fuzzer and ringbench until
# they join SHIM_SRC and DAEMON_SRC.
RING_SRC = shim/shm-ring.c proto/proto-ring.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
PROTO_PACK_OBJ = $(call obj,$(PROTO_PACK_SRC))
PROTO_DECODE_OBJ = $(call obj,$(PROTO_DECODE_SRC))
SHIM_OBJ = $(call obj,$(SHIM_SRC))
DAEMON_OBJ = $(call obj,$(DAEMON_SRC))
TEST_OBJ = $(call obj,$(TEST_SRC))
RING_OBJ = $(call obj,$(RING_SRC))

LIBRELOG_SO = $(BUILD)/librelog.so.1
LIBRELOG_A = $(BUILD)/librelog.a
RELOGD = $(BUILD)/relogd
RELOGCTL = $(BUILD)/relogctl
TESTS = $(BUILD)/relog-tests
TEST_RUNNER = $(BUILD)/test-runner

all: $(RELOGD) $(RELOGCTL) $(LIBRELOG_SO) $(BUILD)/librelog.so $(LIBRELOG_A) \
	$(BUILD)/example-runner

deps:
ifneq ($(NO_DEPS),1)
	$(Q)scripts/deps.sh
endif

$(BUILD)/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(RELOGD): $(DAEMON_OBJ) $(PROTO_PACK_OBJ) $(PROTO_DECODE_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DAEMON_LIBS)

$(RELOGCTL): $(BUILD)/obj/relogctl/relogctl.o $(PROTO_DECODE_OBJ) $(LIBRELOG_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs msgpack) \
		-pthread

# The shim: hidden visibility, a version script and a SONAME; only msgpack-c's
# header-only packer, so neither libmsgpackc nor libevent at run time.
$(LIBRELOG_SO): $(SHIM_OBJ) $(PROTO_PACK_OBJ) shim/relog.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,librelog.so.1 \
		-Wl,--version-script=shim/relog.map -Wl,-z,defs -o $@ \
		$(SHIM_OBJ) $(PROTO_PACK_OBJ) -pthread

$(BUILD)/librelog.so: $(LIBRELOG_SO)
	$(Q)ln -sf librelog.so.1 $@

$(LIBRELOG_A): $(SHIM_OBJ) $(PROTO_PACK_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# examples/runner.c, the runner a newcomer copies.
$(BUILD)/example-runner: $(BUILD)/obj/examples/runner.o $(LIBRELOG_SO)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< -L$(BUILD) -l:librelog.so.1 \
		-Wl,-rpath,'$$ORIGIN'

# Runners in the tests link the shared library, as real runners do.
$(TEST_RUNNER): $(BUILD)/obj/tests/runner.o $(LIBRELOG_SO)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< -L$(BUILD) -l:librelog.so.1 \
		-Wl,-rpath,'$$ORIGIN'

$(TESTS): $(TEST_OBJ) $(RING_OBJ) $(LIBRELOG_A) $(PROTO_DECODE_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(TEST_OBJ) $(RING_OBJ) \
		$(PROTO_DECODE_OBJ) $(LIBRELOG_A) $(TEST_LIBS) -pthread

test: all $(TESTS) $(TEST_RUNNER)
	$(Q)scripts/check-abi.sh $(LIBRELOG_SO) shim/relog.map
	$(Q)scripts/check-install.sh $(BUILD)
	$(Q)RELOG_BUILD=$(BUILD) RELOG_SRC=$(CURDIR) \
		$(if $(SAN_RUNTIMES),RELOG_SANITIZE_RUNTIMES=$(SAN_RUNTIMES)) \
		$(TESTS)

# The suite again with relogd and every runner under memcheck (the harness
# starts them so when RELOG_VALGRIND is set; any error or leak fails them).
valgrind: all $(TESTS) $(TEST_RUNNER)
	$(Q)RELOG_VALGRIND=1 RELOG_BUILD=$(BUILD) RELOG_SRC=$(CURDIR) $(TESTS)

check:
	$(Q)$(MAKE) --no-print-directory test SANITIZE=0
	$(Q)$(MAKE) --no-print-directory test SANITIZE=1
	$(Q)$(MAKE) --no-print-directory valgrind SANITIZE=0

run: all
	$(Q)mkdir -p $(BUILD)/run
	$(RELOGD) --socket $(BUILD)/run/relogd.sock --log-dir $(BUILD)/run/log \
		--state-dir $(BUILD)/run/state --stderr

# The benchmark (bench/README.md): not a test, it asserts nothing.
BENCH = $(BUILD)/relog-bench
$(BENCH): $(BUILD)/obj/bench/bench.o $(SHIM_OBJ) $(PROTO_PACK_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -pthread \
		-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

bench: bench-deps all $(BENCH)
	$(Q)mkdir -p $(BUILD)/bench
	$(Q)$(BENCH) $(BENCH_FLAGS) $(RELOGD) $(BUILD)/bench

# The shared ring's own costs (bench/ringbench.c): not a test either.
RINGBENCH = $(BUILD)/ringbench
$(RINGBENCH): $(BUILD)/obj/bench/ringbench.o $(RING_OBJ) $(PROTO_PACK_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -pthread \
		-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

ringbench: $(RINGBENCH)
	$(Q)$(RINGBENCH) $(RINGBENCH_FLAGS)

bench-deps:
ifneq ($(NO_DEPS),1)
	$(Q)scripts/deps.sh bench
endif

# The fuzzer: clang's libFuzzer with ASan and UBSan, on relogd's decoder.
CLANG ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD = build-fuzz
FUZZ_SRC = tests/fuzz/fuzz-frames.c $(PROTO_PACK_SRC) $(PROTO_DECODE_SRC)

$(FUZZ_BUILD)/fuzz-frames: $(FUZZ_SRC) proto/proto.h proto/relog-protocol.h
	@mkdir -p $(FUZZ_BUILD)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CLANG) -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Iproto $(shell $(PKG_CONFIG) --cflags msgpack) -o $@ \
		$(FUZZ_SRC) $(shell $(PKG_CONFIG) --libs msgpack)

# And on relogd's reader of a runner's shared ring, from rings librelog's
# producer made (ring-seeds).
FUZZ_RING_SRC = tests/fuzz/fuzz-ring.c proto/proto-ring.c
# Its longest input: a control byte, 512 header bytes, 1024 slots.
FUZZ_RING_LEN = 262657

$(FUZZ_BUILD)/fuzz-ring: $(FUZZ_RING_SRC) proto/proto-ring.h \
	proto/relog-ring.h
	@mkdir -p $(FUZZ_BUILD)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CLANG) -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Iproto -o $@ $(FUZZ_RING_SRC)

$(FUZZ_BUILD)/ring-seeds: tests/fuzz/ring-seeds.c shim/shm-ring.c \
	proto/proto-pack.c shim/shm-ring.h proto/relog-ring.h
	@mkdir -p $(FUZZ_BUILD)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CLANG) -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) -Iproto -Ishim \
		$(shell $(PKG_CONFIG) --cflags msgpack) -o $@ \
		tests/fuzz/ring-seeds.c shim/shm-ring.c proto/proto-pack.c

fuzz: fuzz-deps $(FUZZ_BUILD)/fuzz-frames $(FUZZ_BUILD)/fuzz-ring \
	$(FUZZ_BUILD)/ring-seeds
	$(Q)rm -rf $(FUZZ_BUILD)/corpus && mkdir -p $(FUZZ_BUILD)/corpus
	$(Q)/usr/bin/python3 tests/fuzz/make-seeds.py $(FUZZ_BUILD)/corpus
	$(Q)$(FUZZ_BUILD)/fuzz-frames -max_total_time=$(FUZZ_SECONDS) \
		-max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		$(FUZZ_BUILD)/corpus
	$(Q)rm -rf $(FUZZ_BUILD)/ring-corpus && \
		mkdir -p $(FUZZ_BUILD)/ring-corpus
	$(Q)$(FUZZ_BUILD)/ring-seeds $(FUZZ_BUILD)/ring-corpus
	$(Q)$(FUZZ_BUILD)/fuzz-ring -max_total_time=$(FUZZ_SECONDS) \
		-max_len=$(FUZZ_RING_LEN) -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 $(FUZZ_BUILD)/ring-corpus

fuzz-deps:
ifneq ($(NO_DEPS),1)
	$(Q)scripts/deps.sh fuzz
endif

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	install -m 755 $(RELOGD) $(DESTDIR)$(SBINDIR)/relogd
	install -m 755 $(RELOGCTL) $(DESTDIR)$(BINDIR)/relogctl
	install -m 755 $(LIBRELOG_SO) $(DESTDIR)$(LIBDIR)/librelog.so.1
	ln -sf librelog.so.1 $(DESTDIR)$(LIBDIR)/librelog.so
	install -m 644 $(LIBRELOG_A) $(DESTDIR)$(LIBDIR)/librelog.a
	install -m 644 shim/relog.h $(DESTDIR)$(INCLUDEDIR)/relog.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' relog.pc.in \
		> $(DESTDIR)$(PKGCONFIGDIR)/relog.pc
	sed 's|@SBINDIR@|$(SBINDIR)|g' systemd/relogd.service.in \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/relogd.service
	install -m 644 systemd/relogd.socket \
		$(DESTDIR)$(SYSTEMDUNITDIR)/relogd.socket
	install -m 644 systemd/relog.sysusers $(DESTDIR)$(SYSUSERSDIR)/relog.conf
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 644 man/relogctl.1 $(DESTDIR)$(MANDIR)/man1/relogctl.1
	install -m 644 man/librelog.3 $(DESTDIR)$(MANDIR)/man3/librelog.3
	install -m 644 man/relogd.conf.5 $(DESTDIR)$(MANDIR)/man5/relogd.conf.5
	install -m 644 man/relogd.8 $(DESTDIR)$(MANDIR)/man8/relogd.8

clean:
	rm -rf build build-asan $(FUZZ_BUILD)

.PHONY: all deps bench bench-deps ringbench fuzz fuzz-deps test valgrind \
	check run install clean

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
