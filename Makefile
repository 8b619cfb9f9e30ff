# 3scale-ops — see README.md. Every target installs what it needs.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: build test e2e bench demo fuzz lint clean testenv-up testenv-down install-deps image

BIN ?= bin/3scale-ops

build:
	go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/3scale-ops

# Container image without a container engine: the static linux binary and
# the CA certificates, non-root, written by build/image (go-containerregistry
# from the Go module proxy) as an OCI layout ($(IMAGE_OUT)/image) and a
# tarball ($(IMAGE_OUT)/3scale-ops-image.tar). Push: see README.md.
IMAGE     ?= quay.io/3scale-ops/3scale-ops:latest
IMAGE_OUT ?= bin
IMAGE_ARCH ?= amd64
image:
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) go build -trimpath -ldflags "$(LDFLAGS)" -o $(IMAGE_OUT)/3scale-ops-linux-$(IMAGE_ARCH) ./cmd/3scale-ops
	cd build/image && go run . -name "$(IMAGE)" -version "$(VERSION)" -revision "$(COMMIT)" -arch $(IMAGE_ARCH) \
	  -binary "$(abspath $(IMAGE_OUT))/3scale-ops-linux-$(IMAGE_ARCH)" \
	  -layout "$(abspath $(IMAGE_OUT))/image" -tar "$(abspath $(IMAGE_OUT))/3scale-ops-image.tar"

# Unit, integration and end-to-end tests against real servers on loopback.
# Starts the test environment when it is not running, and stops what it started.
# One line per step on the terminal; apt, go and server output in .logs/test.log.
test:
	@scripts/test.sh ./...

# Only the end-to-end disaster-recovery suite.
e2e:
	@scripts/test.sh ./e2e/...

# Benchmarks against the standard tools, same run, same data (see BENCHMARKS.md).
bench: build
	scripts/bench.sh

# The main job on an embedded default: local servers, a generated 3scale
# installation, backup, restore into fresh servers, verify.
# It builds bin/3scale-ops itself: one line per step on the terminal, the
# drill's report, everything else in .demo/demo.log.
demo:
	@scripts/demo.sh

# Every fuzz target (each func FuzzX in internal/ and cmd/) for FUZZTIME
# each; scripts/fuzz.sh finds them, make test runs them briefly.
FUZZTIME ?= 60s
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

lint:
	@test -z "$$(gofmt -l cmd internal e2e bench 2>/dev/null)" || { gofmt -l cmd internal e2e bench; echo "gofmt needed"; exit 1; }
	go vet ./...
	@command -v staticcheck >/dev/null || go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	staticcheck ./...

install-deps:
	scripts/testenv.sh install

testenv-up:
	scripts/testenv.sh up

testenv-down:
	scripts/testenv.sh down

clean:
	-scripts/testenv.sh down
	rm -rf bin .testenv .demo .bench .logs
