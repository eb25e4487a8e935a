# pam_totp_profile — build, test, install.
#
#   make               build the library, the PAM module, totpctl and totpd
#   make check         unit tests, PAM/sshd integration tests (the README's
#                      test command; under 10 minutes on 2 cores)
#   make check-asan    the same suites again with an ASan+UBSan build (CI)
#   make check-valgrind the PAM suite with pamtester under valgrind memcheck
#   make check-pg      the PostgreSQL store (SQL, module, totpctl) against a
#                      throwaway server (tests/pg; needs root and Debian's postgresql),
#                      and the PAM and totpctl suites again on that store
#   make demo-fleet    two hosts sharing a profile in a throwaway PostgreSQL
#   make mutants       one-line bugs from tests/mutants.list, one at a time in a
#                      scratch copy: each must make a suite fail (MUTANTS=NAME...)
#   make fuzz          libFuzzer targets (clang) for FUZZ_SECONDS each (60);
#                      binaries, logs and crash-* files in build-fuzz/
#   make install       DESTDIR, PREFIX, PAMDIR, STORE_USER honoured
#   make uninstall     what install put there (PURGE=1: config, store, account too)
#   make deb           Debian packages (debian/) into build/deb/, then lintian
#   make check-deb     builds them, installs, logs in, upgrades, removes and
#                      purges them ON THIS MACHINE (root; not part of check)
#   make bench         benchmarks at 1k and 100k users (see bench/README.md)
#   make bench-1m      the same at 1k and 1M users

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
STOREDIR   ?= /var/lib/totp_profile
STORE_USER ?= _totp
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
PAMDIR     ?= $(shell pkg-config --variable=libdir pam 2>/dev/null || echo /lib)/security
DESTDIR    ?=

BUILD      ?= build
# V=1 shows every command
V          ?= 0
Q           = $(if $(filter 1,$(V)),,@)
CC         ?= cc
SANITIZE   ?= 0

WARN     = -Wall -Wextra -Wformat=2 -Wshadow -Wconversion -Wsign-conversion \
           -Wstrict-prototypes -Wmissing-prototypes -Wvla -Werror
HARDEN   = -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection \
           -fno-strict-overflow -fcf-protection
CPPFLAGS += -D_GNU_SOURCE -Ilib -I/usr/include/iniparser -I/usr/include/postgresql \
            -DTP_DEFAULT_CONFIG='"$(SYSCONFDIR)/totp_profile/totp_profile.conf"'
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -fPIC $(WARN)
LDFLAGS  += -Wl,-z,relro -Wl,-z,now -Wl,--as-needed

ifeq ($(SANITIZE),1)
CFLAGS   += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
            -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
else ifeq ($(SANITIZE),fuzz)
# the library instrumented for libFuzzer; only the fuzz targets link libFuzzer
CFLAGS   += -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
            -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=fuzzer,address,undefined
else
CFLAGS   += $(HARDEN)
endif

LIB_SRC  = $(wildcard lib/*.c)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
LIBA     = $(BUILD)/libtotpprofile.a
# libpq is not linked: lib/pq_dl.c loads it when the PostgreSQL store is used
CORE_LIBS = -lconfig -liniparser -lcrypto

PAM_SO   = $(BUILD)/pam_totp_profile.so
PAM_OBJ  = $(patsubst %.c,$(BUILD)/%.o,$(wildcard pam_totp_profile/*.c))
TOTPCTL  = $(BUILD)/totpctl
# objects beside, not under, $(BUILD)/totpctl: that name is the binary
CTL_OBJ  = $(patsubst totpctl/%.c,$(BUILD)/totpctl.obj/%.o,$(wildcard totpctl/*.c))
TOTPD    = $(BUILD)/totpd
TOTPD_OBJ = $(patsubst totpd/%.c,$(BUILD)/totpd.obj/%.o,$(wildcard totpd/*.c))

UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# tests/helpers/*.c: the preloaded/stacked ones are shared objects,
# every other one is a program linked with the library
HELPER_SO    = syslog_capture pam_show_authtok casefold_nss fork_sigint
TEST_HELPERS = $(HELPER_SO:%=$(BUILD)/tests/%.so) \
               $(patsubst tests/helpers/%.c,$(BUILD)/tests/%,$(filter-out \
                   $(HELPER_SO:%=tests/helpers/%.c),$(wildcard tests/helpers/*.c)))

.PHONY: all check check-unit check-integration check-asan check-valgrind check-pg install \
        uninstall clean bench bench-1m demo demo-fleet fuzz fuzz-build mutants \
        deb check-deb
.SUFFIXES:

all: $(LIBA) $(PAM_SO) $(TOTPCTL) $(TOTPD)

$(BUILD)/%.o: %.c $(wildcard lib/*.h) Makefile
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)ar rcs $@ $^

$(PAM_SO): $(PAM_OBJ) $(LIBA) pam_totp_profile/pam_totp_profile.map
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)$(CC) -shared $(CFLAGS) $(LDFLAGS) -Wl,--version-script=pam_totp_profile/pam_totp_profile.map \
	    -o $@ $(PAM_OBJ) $(LIBA) -lpam $(CORE_LIBS)

$(BUILD)/totpctl.obj/%.o: totpctl/%.c totpctl/totpctl.h $(wildcard lib/*.h) Makefile
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(TOTPCTL): $(CTL_OBJ) $(LIBA)
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)$(CC) $(CFLAGS) -pie $(LDFLAGS) -o $@ $(CTL_OBJ) $(LIBA) -ljansson -lqrencode $(CORE_LIBS)

$(BUILD)/totpd.obj/%.o: totpd/%.c totpd/totpd.h $(wildcard lib/*.h) Makefile
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(TOTPD): $(TOTPD_OBJ) $(LIBA)
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)$(CC) $(CFLAGS) -pie $(LDFLAGS) -o $@ $(TOTPD_OBJ) $(LIBA) -lmicrohttpd -ljansson -lpthread $(CORE_LIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIBA) tests/unit/unit.h
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -Wno-conversion -Wno-sign-conversion -pie $(LDFLAGS) \
	    -o $@ $< $(LIBA) -lcmocka -ldl -ljansson $(CORE_LIBS)

$(BUILD)/tests/pam_show_authtok.so: tests/helpers/pam_show_authtok.c
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)$(CC) -shared -fPIC -O2 -o $@ $< -lpam

$(BUILD)/tests/syslog_capture.so: tests/helpers/syslog_capture.c
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)$(CC) -shared -fPIC -O2 -o $@ $<

$(BUILD)/tests/casefold_nss.so: tests/helpers/casefold_nss.c
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)$(CC) -shared -fPIC -O2 -o $@ $< -ldl

$(BUILD)/tests/fork_sigint.so: tests/helpers/fork_sigint.c
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)$(CC) -D_GNU_SOURCE -shared -fPIC -O2 -Wall -Wextra -Werror -o $@ $< -ldl

$(BUILD)/tests/%: tests/helpers/%.c $(LIBA)
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -pie $(LDFLAGS) -o $@ $< $(LIBA) -lpam -ldl $(CORE_LIBS)

# the bench harness: make bench, and tests/integration/bench.sh
BENCH_BIN = $(BUILD)/bench/pam_bench $(BUILD)/bench/gen_profiles $(BUILD)/bench/floor \
            $(BUILD)/bench/bench_preload.so $(BUILD)/bench/crypto_warm.so \
            $(BUILD)/bench/pam_floor.so

check: all $(UNIT_BIN) $(TEST_HELPERS) $(BENCH_BIN)
	BUILD=$(BUILD) STORE_BACKEND=files tests/run.sh

# its own target, run by CI after `make check`: the sanitizer rerun doubles
# the suite's time, and a contributor's `make check` stays short
check-asan:
	$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=1 check

# the PostgreSQL store on throwaway servers (tests/pg/lib.sh): sql/*.sql, the
# module and totpctl against it, TLS, failover; the helpers (pamtester's
# syslog capture, tp_pamrun, tp_mkprofile) are the integration suites' own.
# Then the PAM and totpctl suites of `make check` again, on the database
# (STORE_BACKEND=postgresql: tests/integration/lib.sh), and totpd's client
# suite (paging, filters, order) on the database
PG_SUITES = tests/pg tests/integration/pam.sh tests/integration/totpctl.sh \
            tests/integration/totpd_client.sh
check-pg: all $(TEST_HELPERS)
	BUILD=$(BUILD) SUITES="$(PG_SUITES)" STORE_BACKEND=postgresql tests/run.sh

# pamtester (and the module in it) under memcheck: lib.sh's pam_auth puts
# $$VALGRIND in front of pamtester and reports a memcheck error (exit 99 or
# a non-empty log) as a failed case.  Memory errors and definite/indirect
# leaks fail; --keep-debuginfo names frames of the module after pam_end
# has unloaded it.  VALGRIND_FLAGS=--track-origins=yes to chase an
# uninitialised value (about 1.5x slower).
VALGRIND_FLAGS ?=
VALGRIND_CMD = valgrind --quiet --error-exitcode=99 --leak-check=full \
               --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
               --keep-debuginfo=yes --num-callers=30 \
               --suppressions=$(CURDIR)/tests/valgrind.supp $(VALGRIND_FLAGS)
check-valgrind: all $(TEST_HELPERS)
	VALGRIND="$(VALGRIND_CMD)" ONLY=pam BUILD=$(BUILD) tests/run.sh

# the normal build is the scratch copies' starting point: only the mutated
# object and what links it are rebuilt per mutant
MUTANTS ?=
mutants: all $(UNIT_BIN) $(TEST_HELPERS)
	BUILD=$(BUILD) tests/mutants.sh $(MUTANTS)

FUZZ_SECONDS ?= 60
FUZZ_BIN = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

# clang with libFuzzer, whatever CC is; objects and results in build-fuzz/
fuzz:
	$(MAKE) --no-print-directory BUILD=build-fuzz SANITIZE=fuzz CC=clang fuzz-build
	BUILD=build-fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

fuzz-build: $(FUZZ_BIN)

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(LIBA)
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "LD" "$@"
	$(Q)$(CC) $(CPPFLAGS) -Itests/fuzz $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(CORE_LIBS)

# the module's entry point on a real libpam handle: its objects linked in,
# called through a stacked stub module (so it may set PAM_AUTHTOK)
$(BUILD)/fuzz/fuzz_module: tests/fuzz/fuzz_module.c tests/fuzz/fuzz.h $(PAM_OBJ) $(LIBA) \
                           $(BUILD)/fuzz/module_dispatch.so
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "LD" "$@"
	$(Q)$(CC) $(CPPFLAGS) -Itests/fuzz $(CFLAGS) $(LDFLAGS) \
	    -Wl,--export-dynamic-symbol=fuzz_module_entry -o $@ $< $(PAM_OBJ) $(LIBA) \
	    -lpam $(CORE_LIBS)

# totpd's parser and router, with its objects but not its main
$(BUILD)/fuzz/fuzz_totpd: tests/fuzz/fuzz_totpd.c tests/fuzz/fuzz.h $(BUILD)/totpd.obj/route.o $(LIBA)
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "LD" "$@"
	$(Q)$(CC) $(CPPFLAGS) -Itests/fuzz -Itotpd $(CFLAGS) $(LDFLAGS) -o $@ $< \
	    $(BUILD)/totpd.obj/route.o $(LIBA) -ljansson $(CORE_LIBS)

$(BUILD)/fuzz/module_dispatch.so: tests/fuzz/module_dispatch.c
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "LD" "$@"
	$(Q)$(CC) -shared -fPIC -O1 -Wall -Werror -o $@ $< -ldl

install: all
	install -d $(DESTDIR)$(PAMDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/totp_profile
	install -m 0644 $(PAM_SO) $(DESTDIR)$(PAMDIR)/pam_totp_profile.so
	install -m 0644 pam_totp_profile/pam_totp_profile.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 totpctl/totpctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 conf/totp_profile.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 totpd/totpd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0755 $(TOTPD) $(DESTDIR)$(BINDIR)/totpd
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed -e 's|/usr/local/bin/totpd|$(BINDIR)/totpd|' -e 's|_totp|$(STORE_USER)|' \
	    -e 's|/var/lib/totp_profile|$(STOREDIR)|' totpd/totpd.service \
	    > $(DESTDIR)$(SYSTEMDUNITDIR)/totpd.service
	sed -e 's|_totp|$(STORE_USER)|' totpd/totpd.socket > $(DESTDIR)$(SYSTEMDUNITDIR)/totpd.socket
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/totpd.service $(DESTDIR)$(SYSTEMDUNITDIR)/totpd.socket
	[ -e $(DESTDIR)$(SYSCONFDIR)/totp_profile/totp_profile.conf ] || \
	    install -m 0644 conf/totp_profile.conf $(DESTDIR)$(SYSCONFDIR)/totp_profile/
	DESTDIR="$(DESTDIR)" BINDIR="$(BINDIR)" STOREDIR="$(STOREDIR)" \
	    STORE_USER="$(STORE_USER)" TOTPCTL="$(TOTPCTL)" scripts/install-totpctl.sh

# Everything make install put there.  The configuration, the store (the
# profiles: secrets and spent codes) and the store account are kept, as
# apt remove keeps them; PURGE=1 removes them too (the account only if
# nothing else owns a file in the store's place)
PURGE ?= 0
uninstall:
	rm -f $(DESTDIR)$(PAMDIR)/pam_totp_profile.so $(DESTDIR)$(BINDIR)/totpctl \
	    $(DESTDIR)$(BINDIR)/totpd $(DESTDIR)$(MANDIR)/man8/totpd.8 \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/totpd.service $(DESTDIR)$(SYSTEMDUNITDIR)/totpd.socket \
	    $(DESTDIR)$(MANDIR)/man8/pam_totp_profile.8 $(DESTDIR)$(MANDIR)/man1/totpctl.1 \
	    $(DESTDIR)$(MANDIR)/man5/totp_profile.conf.5
ifeq ($(PURGE),1)
	rm -rf $(DESTDIR)$(SYSCONFDIR)/totp_profile $(DESTDIR)$(STOREDIR)
	if [ -z "$(DESTDIR)" ] && getent passwd $(STORE_USER) > /dev/null; then \
	    userdel $(STORE_USER); fi
else
	@echo "uninstall: kept $(SYSCONFDIR)/totp_profile, the store $(STOREDIR) and the" \
	      "account $(STORE_USER); make uninstall PURGE=1 removes them"
endif

# dpkg-buildpackage -us -uc -b on a copy of the tree (scripts/build-deb.sh)
deb:
	scripts/build-deb.sh $(BUILD)/deb

# Installs the packages on the machine itself, so it is not part of
# `make check`: install, a login through the installed module, an upgrade
# to a rebuilt next version, remove, purge, and the file lists compared
check-deb: deb $(BUILD)/tests/syslog_capture.so
	BUILD=$(BUILD) SUITES=tests/deb tests/run.sh

$(BUILD)/bench/pam_floor.so: bench/pam_floor.c
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" LD "$@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -shared -o $@ $< -lpam

$(BUILD)/bench/crypto_warm.so: bench/crypto_warm.c
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" LD "$@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -shared -o $@ $< -lcrypto

$(BUILD)/bench/bench_preload.so: bench/bench_preload.c bench/bench_common.h
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -shared -o $@ $< -ldl

$(BUILD)/bench/%: bench/%.c bench/bench_common.h $(LIBA)
	@mkdir -p $(dir $@)
	@printf "  %-4s %s\n" "$(if $(filter %.o,$@),CC,LD)" "$@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -pie $(LDFLAGS) -o $@ $< $(LIBA) -lpam -ldl $(CORE_LIBS)

# needs root: installs the peer modules if missing, then writes stores
bench: all $(BENCH_BIN) $(TEST_HELPERS)
	scripts/install-deps.sh --test --bench
	BUILD=$(BUILD) bench/run.sh 1000 100000
	BUILD=$(BUILD) bench/refusal_times.sh

bench-1m: all $(BENCH_BIN)
	scripts/install-deps.sh --test --bench
	BUILD=$(BUILD) bench/run.sh 1000 1000000

demo: all $(TEST_HELPERS)
	BUILD=$(BUILD) scripts/demo.sh

# two hosts sharing one profile in a throwaway PostgreSQL (needs root)
demo-fleet: all $(TEST_HELPERS)
	BUILD=$(BUILD) scripts/demo-fleet.sh

clean:
	rm -rf build build-asan build-fuzz
