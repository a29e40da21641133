# cgroupd — `make help` lists the targets.
GO      ?= go
BUILD   := build
BIN     := $(BUILD)/cgroupbox
APPLETS := cgroupd cgroupctl memhog cpuhog
PREFIX  ?= /usr/local
DESTDIR ?=

.PHONY: all build install test test-unit test-vm test-systemd bench bench-vm check clean help FORCE

all: build ## build build/cgroupbox (static, stripped) and its applet links

build: $(BIN)
	@for a in $(APPLETS); do ln -sf cgroupbox $(BUILD)/$$a; done

$(BIN): FORCE
	@mkdir -p $(BUILD)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $@ .

install: build ## install the binary and links into $(DESTDIR)$(PREFIX)/bin
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/cgroupbox
	@for a in $(APPLETS); do ln -sf cgroupbox $(DESTDIR)$(PREFIX)/bin/$$a; done

test: build test-unit test-systemd test-vm ## unit + host integration tests, the systemd VM scenario, then the VM suite

test-unit: build ## go tests: unit tests and host integration tests (real cgroup2)
	$(GO) test -count=1 ./...

test-vm: build ## boot a VM with every cgroup v2 controller and run scripts/suite there
	sh scripts/vm.sh test

test-systemd: build ## boot Debian with systemd as PID 1 in a VM and test scripts/systemd/cgroupd.service
	sh scripts/systemd-vm.sh test

bench: build ## benchmarks on this host; figures to build/bench.txt
	sh scripts/bench.sh

bench-vm: build ## pressure reaction benchmarks in the VM
	sh scripts/vm.sh bench

check: ## gofmt, go vet, go mod tidy
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff

clean: ## remove build/
	rm -rf $(BUILD)

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'
