# cgroupd — `make help` lists the targets.
GO      ?= go
BUILD   := build
BIN     := $(BUILD)/cgroupbox
APPLETS := cgroupd cgroupctl memhog cpuhog
PREFIX  ?= /usr/local
DESTDIR ?=
# make cross: every target architecture (arm is built as GOARM=7).
CROSS   := amd64 arm64 arm riscv64 386
# make test-vm ARCH=arm64 boots the arm64 kernel with build/linux-arm64/cgroupbox.
ARCH    ?= amd64
# make test-cross: the go tests of these under qemu-user-static ...
USER_ARCHES := arm riscv64
# ... except these, which cannot run under user-mode emulation: they start
# processes with clone3(CLONE_INTO_CGROUP), which qemu-user does not emulate
# (ENOSYS), or exec a foreign-arch binary (the daemon or hog they build, the
# test binary as the spawn helper), which the host kernel runs only through
# binfmt_misc, not set up here. 386 runs natively, every test included,
# where the kernel runs 32-bit x86 binaries; where it does not (ia32_emulation
# off) its test binaries are only compiled: qemu-i386 crashes Go's 386 runtime.
USER_SKIP := TestDirReal TestFreezeReal TestKillReal TestSignalAttachReal TestStatReal \
	TestCgroupEvents TestAutoFallback TestNoFallbackOnceWorking TestFallbackExecError \
	TestHelperMainEOF TestStartReap TestInCgroup TestStdioEnvDirCred TestStartErrors \
	TestStartLatency TestMemhogTouchesEveryPage TestCpuhogSpins TestLifecycle \
	TestWaitExitCodes TestFreezeThaw TestKillSignal TestServices TestRefusedRunLeavesNothing \
	TestAdmissionBlocked TestLogs TestLogsWithoutLogDir TestProtocolErrors TestList1000 \
	TestShutdown TestStartup TestNonRootCaller TestRequestTimeout TestDelegatedRoot \
	TestNonRootDaemon TestEngineHost TestQueueStartsInPriorityOrder TestQueueTimeout \
	TestQueueKillRemove TestRealDaemonKeysTyped TestListScreen TestInspectUnknownFigures TestPipeStreams \
	TestPipeAttachScreen TestStartRlimits \
	TestStartBetween
# (TestStartBetween is the one that is neither: it needs a spawn that falls
# within one clock tick, which a process started under qemu-user misses in
# about half the runs.)
empty :=
space := $(empty) $(empty)
MAXSIZE := 4194304
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null || echo unknown)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all build install deps test test-unit test-vm test-systemd test-slurm test-cross cross bench bench-vm check clean help FORCE

all: build ## build build/cgroupbox (static, stripped) and its applet links

build: $(BIN)
	@for a in $(APPLETS); do ln -sf cgroupbox $(BUILD)/$$a; done

$(BIN): FORCE
	@mkdir -p $(BUILD)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='$(LDFLAGS)' -o $@ .

cross: $(CROSS:%=cross-%) ## static, stripped build/linux-<arch>/cgroupbox: amd64 arm64 arm riscv64 386; build/SHA256SUMS
	cd $(BUILD) && sha256sum $(CROSS:%=linux-%/cgroupbox) >SHA256SUMS
	@cd $(BUILD) && for a in $(CROSS); do printf '  %-8s %8d bytes  %s\n' $$a $$(stat -c %s linux-$$a/cgroupbox) "$$(file -b linux-$$a/cgroupbox 2>/dev/null | cut -d, -f1-2)"; done

# cross-ARCH: one architecture; fails if the binary is over 4 MiB.
cross-%: FORCE
	@mkdir -p $(BUILD)/linux-$*
	CGO_ENABLED=0 GOOS=linux GOARCH=$* GOARM=7 $(GO) build -trimpath -ldflags='$(LDFLAGS)' -o $(BUILD)/linux-$*/cgroupbox .
	@s=$$(stat -c %s $(BUILD)/linux-$*/cgroupbox); [ $$s -le $(MAXSIZE) ] || { echo "$(BUILD)/linux-$*/cgroupbox: $$s bytes, over the $(MAXSIZE) (4 MiB) limit"; exit 1; }

install: build ## install the binary and links into $(DESTDIR)$(PREFIX)/bin
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/cgroupbox
	@for a in $(APPLETS); do ln -sf cgroupbox $(DESTDIR)$(PREFIX)/bin/$$a; done

deps: ## install the tools the tests use (tmux, promtool, qemu, ...; root, apt-get); CI=true: a missing one fails
	sh scripts/deps.sh test

test: deps build test-unit test-systemd test-vm ## deps, unit + host integration tests, the systemd VM scenario, then the VM suite

test-unit: deps build ## go tests: unit tests and host integration tests (real cgroup2)
	$(GO) test -count=1 ./...

test-vm: build $(if $(filter-out amd64,$(ARCH)),cross-$(ARCH)) ## boot a VM with every cgroup v2 controller and run scripts/suite there (ARCH=amd64|arm64)
	CGROUPD_VM_ARCH=$(ARCH) sh scripts/vm.sh test

test-cross: cross-386 $(USER_ARCHES:%=cross-%) ## go tests as 386 (natively; compiled only where the kernel has no ia32 emulation), arm and riscv64 (qemu-user-static)
	@if $(BUILD)/linux-386/cgroupbox -V >/dev/null 2>&1; then \
		echo "GOARCH=386 go test ./... (natively)"; \
		CGO_ENABLED=0 GOARCH=386 $(GO) test -count=1 ./...; \
	else \
		echo "GOARCH=386: NOT RUN: this kernel runs no 32-bit x86 binary (booted with ia32_emulation off) and qemu-i386 crashes Go's 386 runtime; the 386 test binaries are only compiled (go test -c)"; \
		rm -rf $(BUILD)/test-386 && mkdir -p $(BUILD)/test-386 && \
		CGO_ENABLED=0 GOARCH=386 $(GO) test -c -o $(BUILD)/test-386/ ./...; \
	fi
	@set -e; for a in $(USER_ARCHES); do \
		q=qemu-$$a-static; \
		echo "qemu-user $$a: $$($$q $(BUILD)/linux-$$a/cgroupbox -V)"; \
		$$q $(BUILD)/linux-$$a/cgroupbox cgroupctl -h >/dev/null; \
		$$q $(BUILD)/linux-$$a/cgroupbox cgroupd -h >/dev/null; \
		echo "GOARCH=$$a go test -exec $$q ./... (not run under qemu-user: $(words $(USER_SKIP)) tests that need clone3 or exec a foreign binary, listed in the Makefile)"; \
		CGROUPD_TEST_USER_EMU=1 CGO_ENABLED=0 GOARCH=$$a GOARM=7 $(GO) test -count=1 -exec $$q -skip '^($(subst $(space),|,$(strip $(USER_SKIP))))$$' ./...; \
	done

# make test-systemd boots each of these Debian releases in turn:
# bookworm (systemd 252, the unit as shipped) and trixie (systemd 257, the
# unit with scripts/systemd/keep-jobs.conf, PostgreSQL).
SYSTEMD_RELEASES ?= bookworm trixie

test-systemd: build ## boot Debian bookworm, then trixie, with systemd as PID 1 in a VM and test scripts/systemd/cgroupd.service (SYSTEMD_RELEASES=...)
	@set -e; for r in $(SYSTEMD_RELEASES); do sh scripts/systemd-vm.sh test $$r; done

test-slurm: build ## optional, not in make test: a two-node Slurm cluster (Debian trixie's slurm-wlm, munge, slurmdbd) in two VMs on a loopback socket network; sbatch, a job array over both nodes, sacct
	sh scripts/slurm-vm.sh test

bench: build ## benchmarks on this host; figures to build/bench.txt
	sh scripts/bench.sh

bench-vm: build ## pressure reaction benchmarks in the VM (and the service scenario on a 2 GiB guest)
	sh scripts/vm.sh bench
	CGROUPD_VM_MEM=2048 CGROUPD_VM_SUITE_ENV=SERVICE_SCENARIOS=fast sh scripts/vm.sh bench service

check: ## gofmt, go vet (for every cross arch), go mod tidy
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	@set -e; for a in $(filter-out amd64,$(CROSS)); do echo "GOARCH=$$a $(GO) vet ./..."; GOARCH=$$a GOARM=7 $(GO) vet ./...; done
	$(GO) mod tidy -diff

clean: ## remove build/
	rm -rf $(BUILD)

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'
