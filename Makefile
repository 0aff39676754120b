# redress — one Makefile, sources listed by name.
#   make            build the three programs into $(BUILD)/
#   make run        install what is missing, start a private PostgreSQL and the servers
#   make test       unit tests, then end-to-end tests against a throwaway cluster
#   make check-asan the same tests built with ASan+UBSan
#   make check-tsan the threaded servers' end-to-end tests built with ThreadSanitizer
#   make bench      intake benchmark (h2load, against nginx); bench-surge, bench-triage, bench-export,
#                   bench-partition (the rate at 10 million stored grievances)
#   make test-ha    failover tests on a pg_auto_failover primary + synchronous standby (heavy)
# Knobs: DEBUG=1, SANITIZER=address,undefined, BUILD=dir.

BUILD ?= build
CC ?= cc
PKGS := libevent_core libevent_extra libevent_openssl libevent_pthreads openssl libpq jansson yajl inih libsystemd
VERSION := 0.1.0

WARN := -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wshadow \
        -Wno-missing-field-initializers
CFLAGS ?= -O2 -g
ifdef DEBUG
CFLAGS := -O0 -g3
endif
ifdef SANITIZER
CFLAGS += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZER)
endif
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -DREDRESS_VERSION='"$(VERSION)"' $(WARN) $(CFLAGS) -Icommon $(shell pkg-config --cflags $(PKGS))
LIBS := $(shell pkg-config --libs $(PKGS)) -lcsv -lgettextpo -lpthread
# The intake's allocator: mimalloc, first in the link so it serves every library (libevent's
# requests and headers, OpenSSL, yajl); not under a sanitizer, which brings its own.
ifndef SANITIZER
INTAKE_LIBS := -lmimalloc
endif

COMMON_SRC := common/log.c common/util.c common/inifile.c common/config.c common/taxonomy.c common/crypto.c \
              common/reference.c common/grievance.c common/grievance_parse.c common/grievance_row.c \
              common/db.c common/pgconn.c
INTAKE_SRC := intake/main.c intake/server.c intake/tls.c intake/conn.c intake/routes.c \
              intake/submit.c intake/status.c \
              intake/reply.c intake/api.c intake/form.c intake/batch.c intake/html.c \
              intake/act.c intake/dialogue.c intake/framing.c intake/storypage.c \
              intake/priority_words.c
TRIAGE_SRC := triage/main.c triage/rules.c triage/score.c triage/cluster.c triage/owners.c triage/sqlarray.c triage/txn.c triage/plan.c triage/casewrite.c triage/batch.c triage/rescore.c triage/sweep.c \
              triage/upkeep.c triage/worker.c
ADMIN_SRC  := admin/main.c admin/commands.c admin/ctx.c admin/args.c admin/output.c admin/case.c admin/erase.c \
              admin/remedy.c admin/member.c admin/csvread.c admin/csvout.c admin/export.c \
              admin/stats.c admin/audit.c admin/migrate.c admin/import.c \
              admin/message.c admin/contact.c

# Operations (service manager, metrics, OpenAPI, reload): kept on their own lines.
COMMON_SRC += common/service.c common/promhttp.c
INTAKE_SRC += intake/reload.c intake/metrics.c intake/openapi.c
TRIAGE_SRC += triage/metrics.c

# Languages (po/, common/i18n.c): the pages people see, their errors, the form.
COMMON_SRC += common/i18n.c
INTAKE_SRC += intake/formdata.c intake/statuspage.c intake/errtext.c
# Open311 GeoReport v2 (README "Open311 GeoReport v2")
INTAKE_SRC += intake/open311.c intake/open311_request.c

# Evidence attachments (issue 8): multipart bodies, the upload checks and store.
INTAKE_SRC += intake/multipart.c intake/evidence.c intake/formfiles.c
ADMIN_SRC  += admin/attachment.c

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
INTAKE_OBJ := $(INTAKE_SRC:%.c=$(BUILD)/%.o)
TRIAGE_OBJ := $(TRIAGE_SRC:%.c=$(BUILD)/%.o)
ADMIN_OBJ  := $(ADMIN_SRC:%.c=$(BUILD)/%.o)

# Unit tests: tests/unit/test_<module>.c, each linked against the common library (and, where a
# test names them, a program's modules without its main.c).
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
INTAKE_LIB_OBJ := $(filter-out $(BUILD)/intake/main.o,$(INTAKE_OBJ))
TRIAGE_LIB_OBJ := $(filter-out $(BUILD)/triage/main.o,$(TRIAGE_OBJ))
ADMIN_LIB_OBJ  := $(filter-out $(BUILD)/admin/main.o,$(ADMIN_OBJ))

PROGRAMS := $(BUILD)/redress-intake $(BUILD)/redress-triage $(BUILD)/redressctl
# Manuals from one scdoc source each: man/NAME.SECTION.scd -> $(BUILD)/man/NAME.SECTION
MAN_PAGES := $(patsubst man/%.scd,$(BUILD)/man/%,$(wildcard man/*.scd))

.PHONY: all run test test-ha unit e2e check-asan bench bench-ha bench-partition bench-triage bench-export bench-attachments deps clean format format-check fuzz fuzz-regress \
        man install po-update
all: $(PROGRAMS)
man: $(MAN_PAGES)

$(BUILD)/man/%: man/%.scd
	@mkdir -p $(dir $@)
	scdoc < $< > $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# The served OpenAPI document is built into the binary (.incbin).
$(BUILD)/intake/openapi.o: docs/openapi.json

$(BUILD)/libredress.a: $(COMMON_OBJ)
	ar rcs $@ $^

$(BUILD)/redress-intake: $(INTAKE_OBJ) $(BUILD)/libredress.a
	$(CC) $(LDFLAGS) -o $@ $^ $(INTAKE_LIBS) $(LIBS)
$(BUILD)/redress-triage: $(TRIAGE_OBJ) $(BUILD)/libredress.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lm
$(BUILD)/redressctl: $(ADMIN_OBJ) $(BUILD)/libredress.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lm

$(BUILD)/tests/test_intake_%: $(BUILD)/tests/unit/test_intake_%.o $(INTAKE_LIB_OBJ) $(BUILD)/libredress.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka
$(BUILD)/tests/test_triage_%: $(BUILD)/tests/unit/test_triage_%.o $(TRIAGE_LIB_OBJ) $(BUILD)/libredress.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka -lm
$(BUILD)/tests/test_admin_%: $(BUILD)/tests/unit/test_admin_%.o $(ADMIN_LIB_OBJ) $(BUILD)/libredress.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka -lm
$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(BUILD)/libredress.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

deps:
	@scripts/install-deps.sh

run: deps all
	@scripts/run.sh $(BUILD)

unit: $(UNIT_TESTS)
	@scripts/run-unit.sh $(UNIT_TESTS)

e2e: all
	@/usr/bin/python3 tests/e2e/run.py --build $(BUILD)

test:
	@scripts/install-deps.sh --test
	@$(MAKE) --no-print-directory all $(UNIT_TESTS)
	@$(MAKE) --no-print-directory fuzz-regress
	@/usr/bin/python3 scripts/po.py check
	@scripts/run-tests.sh $(BUILD) $(UNIT_TESTS)

# Heavy (a monitor, two PostgreSQL nodes, four servers, ~2 minutes): not part of `make test`.
test-ha:
	@scripts/install-deps.sh --ha
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 tests/ha/run.py --build $(BUILD)

check-asan:
	@LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  $(MAKE) --no-print-directory test BUILD=build-asan SANITIZER=address,undefined DEBUG=1

# ThreadSanitizer: the servers built with -fsanitize=thread in build-tsan/, and the end-to-end
# modules that drive their threads (intake workers and DB faults, triage workers, SIGHUP reloads,
# metrics and the watchdog); any report fails (scripts/run-tsan.sh, tests/tsan.supp).
TSAN_E2E := test_intake test_intake_faults test_triage test_triage_escalation test_ops test_open311
.PHONY: check-tsan
check-tsan:
	@scripts/install-deps.sh --test
	@$(MAKE) --no-print-directory all BUILD=build-tsan SANITIZER=thread DEBUG=1
	@scripts/run-tsan.sh build-tsan $(TSAN_E2E)

bench:
	@scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 bench/intake.py --build $(BUILD)

# A million grievances of one mass event over HTTPS while triage runs (several minutes; SURGE_N=...).
bench-surge:
	@scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 bench/surge.py --build $(BUILD)

bench-triage: deps all
	@/usr/bin/python3 bench/triage.py --build $(BUILD)
	@/usr/bin/python3 bench/triage_events.py --build $(BUILD)

# What synchronous replication costs the intake: single cluster vs scripts/ha.sh's primary.
bench-ha:
	@scripts/install-deps.sh --bench
	@scripts/install-deps.sh --ha
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 bench/ha.py --build $(BUILD)

# The intake's rate at 10 million stored grievances against an empty table (monthly partitions).
bench-partition:
	@scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 bench/partition.py --build $(BUILD)

bench-export: deps all
	@/usr/bin/python3 bench/export.py --build $(BUILD)

# Evidence uploads next to submissions: their own transaction or the group commit (README).
bench-attachments: deps all
	@/usr/bin/python3 bench/attachments.py

# Every C file of the tree, listed in the Makefile or not: the programs, the unit tests, the fuzz targets.
FORMAT_FILES = $(sort $(wildcard $(foreach d,common intake triage admin tests/unit tests/fuzz,$(d)/*.c $(d)/*.h)))
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@scripts/install-deps.sh --ci
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: $(words $(FORMAT_FILES)) files clean"

# Static analysis (cppcheck): every C file of the tree, glibc's and OpenSSL's function models, no
# finding left. A false positive is suppressed inline (cppcheck-suppress ID ; reason) or, when one
# cause recurs, in tests/cppcheck/suppressions.txt with its reason.
CPPCHECK_FLAGS := -q -j2 --std=c11 --enable=warning,style,performance,portability --inline-suppr \
                  --suppressions-list=tests/cppcheck/suppressions.txt --error-exitcode=1 \
                  -D_GNU_SOURCE -DREDRESS_VERSION='"$(VERSION)"' -Icommon \
                  --library=posix --library=gnu --library=openssl \
                  --template='{file}:{line}: {severity}/{id}: {message}'
.PHONY: check-static
check-static:
	@scripts/install-deps.sh --ci
	@cppcheck $(CPPCHECK_FLAGS) common intake triage admin tests/unit tests/fuzz \
	  && echo "check-static: cppcheck clean"

# Regenerates po/redress.pot from the sources and merges it into every po/*.po.
po-update:
	@/usr/bin/python3 scripts/po.py update

clean:
	rm -rf build build-asan build-tsan build-fuzz

# make install [PREFIX=/usr/local] [DESTDIR=staging]: programs, manuals, systemd units (with the
# sysusers.d user and tmpfiles.d directories), bash completion, the example config, the schema and
# the data files. Paths inside the units and the example config follow PREFIX.
PREFIX ?= /usr/local
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
DATADIR ?= $(PREFIX)/share/redress
SUBST = sed -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g'
install: all man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8 \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(COMPLETIONDIR) \
	  $(DESTDIR)$(DATADIR)/sql $(DESTDIR)$(SYSCONFDIR)/redress
	install -m 755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(filter %.1,$(MAN_PAGES)) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(PREFIX)/share/man/man8/
	for u in systemd/*.service systemd/*.target; do $(SUBST) $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u); done
	install -m 644 systemd/redress.sysusers $(DESTDIR)$(SYSUSERSDIR)/redress.conf
	$(SUBST) systemd/redress.tmpfiles > $(DESTDIR)$(TMPFILESDIR)/redress.conf
	install -m 644 completion/redressctl.bash $(DESTDIR)$(COMPLETIONDIR)/redressctl
	install -m 644 systemd/redress-intake.service.d/low-port.conf.example $(DESTDIR)$(DATADIR)/
	install -m 644 sql/*.sql $(DESTDIR)$(DATADIR)/sql/
	install -m 644 config/taxonomy.json config/triage-rules.ini $(DESTDIR)$(DATADIR)/
	$(SUBST) -e 's|var/tls/|$(SYSCONFDIR)/redress/tls/|' -e 's|var/keys/|/run/credentials/redress-intake.service/|' \
	  -e 's|config/taxonomy.json|$(DATADIR)/taxonomy.json|' -e 's|config/triage-rules.ini|$(DATADIR)/triage-rules.ini|' \
	  -e 's|^conninfo = host=var/pg/sock port=5433 dbname=redress|conninfo = host=/var/run/postgresql dbname=redress|' \
	  config/redress.conf.example > $(DESTDIR)$(SYSCONFDIR)/redress/redress.conf.example

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Fuzz targets (libFuzzer, clang): `make fuzz` runs each for FUZZ_SECONDS; `make test` replays the
# seed corpus through them as a regression check.
FUZZ_TARGETS := grievance reference multipart
FUZZ_SECONDS ?= 60
FUZZ_BIN := $(FUZZ_TARGETS:%=build-fuzz/fuzz_%)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Icommon \
               $(shell pkg-config --cflags $(PKGS))
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(COMMON_SRC)
	@mkdir -p build-fuzz
	clang $(FUZZ_CFLAGS) -o $@ $^ $(LIBS)
build-fuzz/fuzz_multipart: tests/fuzz/fuzz_multipart.c intake/multipart.c
	@mkdir -p build-fuzz
	clang $(FUZZ_CFLAGS) -o $@ $^ $(LIBS)
fuzz: $(FUZZ_BIN)
	@for t in $(FUZZ_TARGETS); do mkdir -p build-fuzz/corpus-$$t; \
	  build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus-$$t tests/fuzz/corpus/$$t || exit 1; done
fuzz-regress: $(FUZZ_BIN)
	@for t in $(FUZZ_TARGETS); do build-fuzz/fuzz_$$t -runs=0 tests/fuzz/corpus/$$t >/dev/null 2>&1 \
	  && echo "fuzz corpus $$t: ok" || { echo "fuzz corpus $$t: FAILED"; exit 1; }; done
