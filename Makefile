# nightjar build entry points. Tests that load eBPF programs need root.
GO        ?= go
BUILD     := build
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
TESTFLAGS ?= -count=1 -timeout 30m

.PHONY: all build plugin image run test bpf bpf-check bench lint clean

all: build plugin

# Without cgo: the daemon drops its capabilities on every thread once its
# programs are loaded, which Go can do only in a binary without cgo.
build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BUILD)/nightjar ./daemon/cmd/nightjar

# The Fluent Bit output plugin. Fluent Bit reserves the flb- prefix for C plugins.
plugin:
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $(BUILD)/out_nightjar.so ./outplugin/cmd/out_nightjar

# The daemon's container image as an OCI archive, without a container
# engine (daemon/Dockerfile builds the same with one).
image:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BUILD)/nightjar-static ./daemon/cmd/nightjar
	$(GO) run ./daemon/cmd/nightjar-image -binary $(BUILD)/nightjar-static -version $(VERSION) -ref nightjar:$(VERSION) -config ecs/nightjar.hcl -o $(BUILD)/nightjar-image.tar

# Run the detection daemon with its embedded default rules, alerts on stdout.
run: build
	$(BUILD)/nightjar run

test: bpf-check
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) ./...
	$(GO) test $(TESTFLAGS) -race ./daemon/forward/... ./daemon/spool/... ./daemon/delivery/... ./daemon/output/... ./daemon/telemetry/...
	$(GO) test -race $(TESTFLAGS) ./outplugin/router/... ./outplugin/instance/... ./outplugin/cloudwatch/... ./outplugin/cloudlogging/...

# Regenerate the eBPF objects and their Go bindings (clang, llvm-strip).
bpf:
	$(GO) generate ./bpf/...

# Fail when the checked-in eBPF objects differ from what the sources build.
bpf-check: bpf
	@git diff --exit-code --stat -- bpf/ || { echo "bpf/: generated objects are stale; run make bpf and commit" >&2; exit 1; }

# SOAK_DURATION (default 10m), SOAK_OUTAGE (60s) and SOAK_RATE (6000/s) size the soak.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	./bench/run.sh
	$(GO) build -o $(BUILD)/soak ./bench/soak
	$(BUILD)/soak -nightjar $(BUILD)/nightjar

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt: $$out" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

clean:
	rm -rf $(BUILD)
