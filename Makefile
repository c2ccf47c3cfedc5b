# chpass: make run (the local server on the embedded demo store) and make test (every test).
SHELL      := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := default

FUNCTIONS  := caller-password modify-user-passwords
GO         ?= go
GOFLAGS    := -trimpath
LDFLAGS    := -s -w -buildid=
TAGS       := lambda.norpc
BIN        := bin
CACHE      := .cache
FUNCTION   ?= caller-password
EVENT      ?= events/caller-password/apigw-http-v2-jwt-authorizer.json
DEMO       := functions/local/demo.yaml
LDAP_DIR   := $(CACHE)/slapd
export CHPASS_CONFIG ?= $(DEMO)

.PHONY: default fmt vet lint build build-aws build-fc run invoke test test-go bench deps ldap-deps ldap-up ldap-down clean

default: lint build test

## fmt: fail when gofmt would change a file.
fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## lint: gofmt and go vet.
lint: fmt vet

## build: static, stripped binaries for both clouds: arm64 bootstrap for AWS, amd64 for Function Compute.
build: build-aws build-fc

build-aws:
	@for fn in $(FUNCTIONS); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(GOFLAGS) -tags $(TAGS) -ldflags '$(LDFLAGS)' \
	    -o $(BIN)/aws/$$fn/bootstrap ./functions/$$fn; echo "built $(BIN)/aws/$$fn/bootstrap"; done

build-fc:
	@for fn in $(FUNCTIONS); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build $(GOFLAGS) -tags $(TAGS) -ldflags '$(LDFLAGS)' \
	    -o $(BIN)/fc/$$fn/$$fn ./functions/$$fn; echo "built $(BIN)/fc/$$fn/$$fn"; done

## run: every function on one loopback port (CHPASS_ADDR, default 127.0.0.1:8080), on the embedded demo store.
run:
	@mkdir -p $(CACHE)
	$(GO) run ./functions/local

## invoke: run one function once on an event file and print the platform response.
## NOW=2026-11-24T04:10:00Z replays the signed samples at the time they were signed.
invoke:
	@mkdir -p $(CACHE)
	$(GO) run ./functions/$(FUNCTION) -event $(EVENT) $(if $(NOW),-now $(NOW))

## deps: what the tests need from outside Go: slapd and ldap-utils (installed with apt-get when root).
deps: ldap-deps
	$(GO) mod download

ldap-deps:
	@bash shared/ldap/testdata/install-deps.sh

## ldap-up / ldap-down: a private slapd with the ppolicy overlay, for tests and `make run` against LDAP.
ldap-up: ldap-deps
	@bash shared/ldap/testdata/slapd.sh up $(LDAP_DIR)

ldap-down:
	@bash shared/ldap/testdata/slapd.sh down $(LDAP_DIR)

## test: every test, with a real slapd started for the LDAP tests and stopped after.
test: deps
	@bash shared/ldap/testdata/slapd.sh up $(LDAP_DIR); \
	trap 'bash shared/ldap/testdata/slapd.sh down $(LDAP_DIR)' EXIT; \
	source $(LDAP_DIR)/env; \
	$(GO) test -race -count=1 -timeout 8m ./...

## bench: benchmarks with figures and ratios (needs slapd for the LDAP ones).
bench: deps
	@bash shared/ldap/testdata/slapd.sh up $(LDAP_DIR); \
	trap 'bash shared/ldap/testdata/slapd.sh down $(LDAP_DIR)' EXIT; \
	source $(LDAP_DIR)/env; \
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 20m ./...

clean:
	rm -rf $(BIN) dist $(CACHE)
