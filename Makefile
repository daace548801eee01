# relog: relogd (daemon/), librelog (shim/), their wire contract (proto/).
#
#   make               build everything into build/
#   make run           build, then run relogd on local defaults (build/run/)
#   make check         every test: the ABI and install checks, the Check
#                      suite, the suite under AddressSanitizer and UBSan,
#                      and the suite under valgrind
#   make test          the Check suite once (SANITIZE=1: under the sanitizers)
#   make valgrind      the Check suite under memcheck: the unit cases in the
#                      test binary itself, then relogd and runners
#   make bench         measure relog, and rsyslog beside it (bench/README.md)
#   make ringbench     measure the shared record ring (bench/ringbench.c)
#   make fuzz          run each fuzzer (frames, fluent, config, ring) under
#                      libFuzzer for FUZZ_SECONDS
#   make install       PREFIX=/usr/local DESTDIR= ...
#   make deb           the Debian packages, into build/deb/
#   make check-packages  the packages, the Python package, the shipped
#                      units and config files (make check runs it too)
#   make deps          install the Debian packages building and testing need
#
# Building never installs packages. make run, make check and the tests
# install what they need that is missing first (scripts/deps.sh); set
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
	libssl libsystemd inih zlib)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) \
	$(CFLAGS) $(SAN_FLAGS) -Iproto -Ishim $(PKG_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SAN_FLAGS)
DAEMON_LIBS = $(shell $(PKG_CONFIG) --libs msgpack libevent libevent_openssl \
	libssl libcrypto libsystemd inih)
TEST_LIBS = $(shell $(PKG_CONFIG) --libs check msgpack inih libevent \
	zlib)

PROTO_PACK_SRC = proto/proto-pack.c proto/proto-scan.c
PROTO_DECODE_SRC = proto/proto-decode.c proto/proto-text.c proto/proto-buf.c \
	proto/proto-metrics.c proto/proto-file.c
PROTO_FLUENT_SRC = proto/proto-fluent.c
PROTO_CLIENT_SRC = proto/proto-client.c
# The shared ring's consumer: relogd's, and librelog's when it sends batches.
PROTO_RING_SRC = proto/proto-ring.c proto/proto-ring-open.c \
	proto/proto-ring-commit.c
SHIM_SRC = shim/relog.c shim/flusher.c shim/batch.c shim/conn.c shim/slot.c \
	shim/shm-ring.c shim/shm-ring-map.c shim/shim.c
# relogd, by layer (daemon/README.md): intake, records, plugins, outputs,
# then the utilities every layer uses.
DAEMON_MAIN_SRC = daemon/main.c
DAEMON_SRC = daemon/server.c daemon/metrics.c daemon/runner.c daemon/control.c \
	daemon/fluent.c daemon/ring.c daemon/reply.c daemon/client.c \
	daemon/record.c daemon/route.c \
	daemon/plugin.c \
	daemon/sink.c daemon/journal.c daemon/tail.c daemon/remote.c \
	daemon/remote-syslog.c daemon/remote-fluent.c daemon/remote-conn.c \
	daemon/remote-queue.c \
	daemon/ack.c daemon/owner.c daemon/spool.c daemon/state.c \
	daemon/config-load.c daemon/config.c \
	daemon/uri.c daemon/log.c daemon/relogd.c
TEST_SRC = tests/main.c tests/harness.c tests/wire.c tests/collector.c \
	tests/capture.c tests/peer.c tests/test-codec.c \
	tests/test-shim.c tests/test-spool.c tests/test-config.c \
	tests/test-daemon.c tests/test-limits.c tests/test-ctl.c \
	tests/test-syslog.c tests/test-fluent.c tests/test-remote.c \
	tests/test-ids.c tests/test-security.c tests/test-security-files.c \
	tests/test-show.c tests/test-metrics.c tests/test-cli.c \
	tests/test-shmring.c tests/test-ringd.c tests/test-crash.c
# The shared record ring (PROTOCOL.md, "Shared ring"), producer and consumer,
# for the fuzzer and ringbench, which link it on its own.
RING_SRC = shim/shm-ring.c shim/shm-ring-map.c $(PROTO_RING_SRC)
# The daemon's utilities the unit suites (spool, config) drive directly.
TEST_DAEMON_SRC = daemon/spool.c daemon/config.c daemon/config-load.c \
	daemon/uri.c daemon/log.c daemon/relogd.c
RELOGCTL_SRC = relogctl/relogctl.c relogctl/ctl-conn.c relogctl/ctl-msg.c \
	relogctl/ctl-stats.c relogctl/ctl-tail.c relogctl/ctl-send.c \
	relogctl/ctl-show.c relogctl/ctl-files.c relogctl/ctl-reader.c \
	relogctl/ctl-time.c relogctl/ctl-out.c relogctl/ctl-grant.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
PROTO_PACK_OBJ = $(call obj,$(PROTO_PACK_SRC))
PROTO_DECODE_OBJ = $(call obj,$(PROTO_DECODE_SRC))
PROTO_FLUENT_OBJ = $(call obj,$(PROTO_FLUENT_SRC))
PROTO_CLIENT_OBJ = $(call obj,$(PROTO_CLIENT_SRC))
PROTO_RING_OBJ = $(call obj,$(PROTO_RING_SRC))
DAEMON_MAIN_OBJ = $(call obj,$(DAEMON_MAIN_SRC))
SHIM_OBJ = $(call obj,$(SHIM_SRC))
DAEMON_OBJ = $(call obj,$(DAEMON_SRC))
TEST_OBJ = $(call obj,$(TEST_SRC))
TEST_DAEMON_OBJ = $(call obj,$(TEST_DAEMON_SRC))
# The unit suites include relogd's private header.
$(call obj,tests/test-spool.c tests/test-config.c): ALL_CFLAGS += -Idaemon
RING_OBJ = $(call obj,$(RING_SRC))

LIBRELOG_SO = $(BUILD)/librelog.so.1
LIBRELOG_A = $(BUILD)/librelog.a
RELOGD = $(BUILD)/relogd
RELOGCTL = $(BUILD)/relogctl
TESTS = $(BUILD)/relog-tests
TEST_RUNNER = $(BUILD)/test-runner

all: $(RELOGD) $(RELOGCTL) $(LIBRELOG_SO) $(BUILD)/librelog.so $(LIBRELOG_A) \
	$(BUILD)/example-runner

# Install the missing Debian packages of these sets, unless NO_DEPS=1.
deps_install = $(if $(filter 1,$(NO_DEPS)),:,scripts/deps.sh $(1))

deps:
	$(Q)$(call deps_install,build test)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(RELOGD): $(DAEMON_MAIN_OBJ) $(DAEMON_OBJ) $(PROTO_PACK_OBJ) \
	$(PROTO_DECODE_OBJ) $(PROTO_FLUENT_OBJ) $(PROTO_RING_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DAEMON_LIBS)

$(RELOGCTL): $(call obj,$(RELOGCTL_SRC)) $(PROTO_CLIENT_OBJ) \
	$(PROTO_DECODE_OBJ) $(LIBRELOG_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs msgpack \
		inih zlib) -pthread

# The shim: hidden visibility, a version script and a SONAME; only msgpack-c's
# header-only packer, so neither libmsgpackc nor libevent at run time.
$(LIBRELOG_SO): $(SHIM_OBJ) $(PROTO_PACK_OBJ) $(PROTO_RING_OBJ) shim/relog.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,librelog.so.1 \
		-Wl,--version-script=shim/relog.map -Wl,-z,defs -o $@ \
		$(SHIM_OBJ) $(PROTO_PACK_OBJ) $(PROTO_RING_OBJ) -pthread

$(BUILD)/librelog.so: $(LIBRELOG_SO)
	$(Q)ln -sf librelog.so.1 $@

$(LIBRELOG_A): $(SHIM_OBJ) $(PROTO_PACK_OBJ) $(PROTO_RING_OBJ)
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

# Preloaded into runners by tests (tests/slow-connect.c, busy-connect.c);
# never sanitized: the sanitizers' runtimes come first in LD_PRELOAD there.
TEST_PRELOADS = $(BUILD)/slow-connect.so $(BUILD)/busy-connect.so
$(TEST_PRELOADS): $(BUILD)/%.so: tests/%.c
	@mkdir -p $(BUILD)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -std=c11 -O1 $(WARN) -shared -fPIC -o $@ $< -ldl

$(TESTS): $(TEST_OBJ) $(TEST_DAEMON_OBJ) $(PROTO_CLIENT_OBJ) $(LIBRELOG_A) \
	$(PROTO_DECODE_OBJ) $(PROTO_FLUENT_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(TEST_OBJ) $(TEST_DAEMON_OBJ) \
		$(PROTO_CLIENT_OBJ) $(PROTO_DECODE_OBJ) $(PROTO_FLUENT_OBJ) \
		$(LIBRELOG_A) $(TEST_LIBS) -pthread

# The install is checked with the plain build (a sanitized librelog would
# make a user's runner link libasan).
test: all $(TESTS) $(TEST_RUNNER) $(TEST_PRELOADS)
	$(Q)scripts/check-abi.sh $(LIBRELOG_SO) shim/relog.map
	$(Q)$(if $(filter 1,$(SANITIZE)),true,scripts/check-install.sh $(BUILD))
	$(Q)RELOG_BUILD=$(BUILD) RELOG_SRC=$(CURDIR) \
		$(if $(SAN_RUNTIMES),RELOG_SANITIZE_RUNTIMES=$(SAN_RUNTIMES)) \
		scripts/run-tests.sh $(if $(filter 1,$(SANITIZE)),sanitize,plain) \
		$(TESTS)

# The suite again under memcheck, where any error or leak fails: the test
# cases tagged unit (they start nothing) with the test binary itself under
# valgrind, in one process; the rest with relogd and every runner under it
# (the harness starts them so when RELOG_VALGRIND is set).
VALGRIND = /usr/bin/valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect \
	--show-leak-kinds=definite,indirect
valgrind: all $(TESTS) $(TEST_RUNNER) $(TEST_PRELOADS)
	$(Q)CK_FORK=no CK_INCLUDE_TAGS=unit RELOG_BUILD=$(BUILD) \
		RELOG_SRC=$(CURDIR) scripts/run-tests.sh vg-unit $(TESTS) \
		$(VALGRIND)
	$(Q)CK_EXCLUDE_TAGS=unit RELOG_VALGRIND=1 RELOG_BUILD=$(BUILD) \
		RELOG_SRC=$(CURDIR) scripts/run-tests.sh valgrind $(TESTS)

check:
	$(Q)$(call deps_install,build test deb)
	$(Q)$(MAKE) --no-print-directory test SANITIZE=0
	$(Q)$(MAKE) --no-print-directory test SANITIZE=1
	$(Q)$(MAKE) --no-print-directory valgrind SANITIZE=0
	$(Q)$(MAKE) --no-print-directory check-packages NO_DEPS=1

# What operators install: the example config, the units, the Python
# package in a venv, and the Debian packages (installed on this machine,
# then purged).
check-packages:
	$(Q)$(call deps_install,build test deb)
	$(Q)$(MAKE) -s --no-print-directory all
	$(Q)tests/pkg/check-etc.sh $(BUILD)
	$(Q)tests/pkg/check-units.sh $(BUILD)
	$(Q)tests/python/package_check.sh $(BUILD)
	$(Q)tests/pkg/check-deb.sh

# Builds in a copy of the tree; scripts/deps.sh deb installs what it needs.
deb:
	$(Q)scripts/make-deb.sh build/deb

# make run reads no settings file, not even an installed relogd's:
# RUN_CONFIG=FILE names one.
RUN_CONFIG ?= /dev/null
run:
	$(Q)$(call deps_install,build)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)mkdir -p $(BUILD)/run
	$(RELOGD) --config $(RUN_CONFIG) --socket $(BUILD)/run/relogd.sock \
		--log-dir $(BUILD)/run/log --state-dir $(BUILD)/run/state --stderr

# The benchmark (bench/README.md): not a test, it asserts nothing.
BENCH = $(BUILD)/relog-bench
# It starts relogd, rsyslogd and its runners with the tests' harness.
BENCH_OBJ = $(addprefix $(BUILD)/obj/bench/,bench.o bench-util.o \
	bench-emit.o bench-load.o bench-report.o measure.o)
$(BENCH_OBJ): ALL_CFLAGS += -Itests
$(BENCH): $(BENCH_OBJ) $(BUILD)/obj/tests/harness.o \
	$(SHIM_OBJ) $(PROTO_CLIENT_OBJ) $(PROTO_PACK_OBJ) $(PROTO_DECODE_OBJ) \
	$(PROTO_RING_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ \
		$(shell $(PKG_CONFIG) --libs msgpack) -pthread \
		-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

# Packages first, then the build: a prerequisite could build in parallel.
bench: bench-deps
	$(Q)$(MAKE) --no-print-directory all $(BENCH)
	$(Q)mkdir -p $(BUILD)/bench
	$(Q)$(BENCH) $(BENCH_FLAGS) $(RELOGD) $(BUILD)/bench

# The shared ring's own costs (bench/ringbench.c): not a test either.
RINGBENCH = $(BUILD)/ringbench
$(RINGBENCH): $(BUILD)/obj/bench/ringbench.o $(BUILD)/obj/bench/measure.o \
	$(RING_OBJ) $(PROTO_PACK_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -pthread \
		-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

ringbench: $(RINGBENCH)
	$(Q)$(RINGBENCH) $(RINGBENCH_FLAGS)

bench-deps:
	$(Q)$(call deps_install,build test bench)

# The fuzzers: clang's libFuzzer with ASan and UBSan, one per input relogd
# takes from outside (tests/fuzz/README.md): frames (a runner's), fluent
# (the Forward socket's), config (the settings file). make fuzz runs each
# for FUZZ_SECONDS in turn, so CI's FUZZ_SECONDS=60 takes a minute for each
# target. A target is a name in FUZZ_TARGETS, tests/fuzz/fuzz-NAME.c, and
# FUZZ_SRC_NAME, what it links besides; its seeds go in corpus/NAME.
CLANG ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD = build-fuzz
FUZZ_TARGETS = frames fluent config ring
FUZZ_SRC_frames = $(PROTO_PACK_SRC) $(PROTO_DECODE_SRC)
FUZZ_SRC_fluent = $(PROTO_PACK_SRC) $(PROTO_DECODE_SRC) $(PROTO_FLUENT_SRC)
FUZZ_SRC_config = daemon/config.c daemon/config-load.c daemon/uri.c \
	daemon/log.c daemon/relogd.c $(PROTO_PACK_SRC) $(PROTO_DECODE_SRC)
FUZZ_SRC_ring = $(PROTO_RING_SRC)
FUZZ_FLAGS = -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Iproto -Ishim -Idaemon
FUZZ_HEADERS = $(wildcard proto/*.h) $(wildcard daemon/*.h)

.SECONDEXPANSION:
$(FUZZ_BUILD)/fuzz-%: tests/fuzz/fuzz-%.c $$(FUZZ_SRC_$$*) $(FUZZ_HEADERS)
	@mkdir -p $(FUZZ_BUILD)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(PKG_CFLAGS) -o $@ $< $(FUZZ_SRC_$*) \
		$(shell $(PKG_CONFIG) --libs msgpack inih libevent)

# The ring fuzzer's seeds are rings librelog's producer made (ring-seeds),
# and its longest input is a control byte, 512 header bytes and 1024 slots.
$(FUZZ_BUILD)/ring-seeds: tests/fuzz/ring-seeds.c shim/shm-ring.c \
	shim/shm-ring-map.c proto/proto-pack.c shim/shm-ring.h \
	shim/shm-ring-int.h proto/relog-ring.h
	@mkdir -p $(FUZZ_BUILD)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CLANG) -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) -Iproto -Ishim \
		$(shell $(PKG_CONFIG) --cflags msgpack) -o $@ \
		tests/fuzz/ring-seeds.c shim/shm-ring.c shim/shm-ring-map.c \
		proto/proto-pack.c

FUZZ_LEN = 65536
FUZZ_LEN_ring = 262657

fuzz: fuzz-deps
	$(Q)$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz-%) \
		$(FUZZ_BUILD)/ring-seeds
	$(Q)rm -rf $(FUZZ_BUILD)/corpus && mkdir -p $(FUZZ_BUILD)/corpus/ring
	$(Q)/usr/bin/python3 tests/fuzz/make-seeds.py $(FUZZ_BUILD)/corpus
	$(Q)$(FUZZ_BUILD)/ring-seeds $(FUZZ_BUILD)/corpus/ring
	$(Q)$(foreach t,$(FUZZ_TARGETS),mkdir -p $(FUZZ_BUILD)/corpus/$(t) && \
		$(FUZZ_BUILD)/fuzz-$(t) -max_total_time=$(FUZZ_SECONDS) \
		-max_len=$(or $(FUZZ_LEN_$(t)),$(FUZZ_LEN)) -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_BUILD)/$(t)- \
		$(FUZZ_BUILD)/corpus/$(t) &&) true

fuzz-deps:
	$(Q)$(call deps_install,build test fuzz)

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
	check run install clean check-packages deb

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
