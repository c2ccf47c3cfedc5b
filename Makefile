# chpass: make run (the local server on the embedded demo store) and make test (every test).
SHELL      := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := default

FUNCTIONS  := caller-password modify-user-passwords
GO         ?= go
GOFLAGS    := -trimpath
LDFLAGS    := -s -w -buildid=
# Each cloud's binary links only its own secret service's SDK. validator_novalidatefn drops
# validator's one MethodByName call, which made the linker keep every exported method: -2.9 MB.
TAGS_AWS   := lambda.norpc,noalibaba,validator_novalidatefn
TAGS_FC    := lambda.norpc,noaws,validator_novalidatefn
DIST       := dist
BIN        := bin
CACHE      := .cache
FUNCTION   ?= caller-password
EVENT      ?= events/caller-password/apigw-http-v2-jwt-authorizer.json
DEMO       := functions/local/demo.yaml
LDAP_DIR   := $(CACHE)/slapd
export CHPASS_CONFIG ?= $(DEMO)

.PHONY: default fmt vet lint build build-aws build-fc package cfn-lint run invoke test bench deps ldap-deps qemu-deps chromium-deps ldap-up ldap-down clean \
	build-CallerPasswordFunction build-ModifyUserPasswordsFunction

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

GOBUILD_AWS = CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(GOFLAGS) -buildvcs=false -tags $(TAGS_AWS) -ldflags '$(LDFLAGS)'
GOBUILD_FC  = CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build $(GOFLAGS) -buildvcs=false -tags $(TAGS_FC) -ldflags '$(LDFLAGS)'

build-aws:
	@for fn in $(FUNCTIONS); do \
	  $(GOBUILD_AWS) -o $(BIN)/aws/$$fn/bootstrap ./functions/$$fn; echo "built $(BIN)/aws/$$fn/bootstrap"; done

build-fc:
	@for fn in $(FUNCTIONS); do \
	  $(GOBUILD_FC) -o $(BIN)/fc/$$fn/$$fn ./functions/$$fn; echo "built $(BIN)/fc/$$fn/$$fn"; done

## build-<LogicalId>: what `sam build` runs for each function of template.yaml (BuildMethod: makefile).
build-CallerPasswordFunction:
	$(GOBUILD_AWS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/caller-password

build-ModifyUserPasswordsFunction:
	$(GOBUILD_AWS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/modify-user-passwords

## package: one reproducible zip per function per cloud: dist/aws/<fn>.zip (bootstrap, for template.yaml)
## and dist/fc/<fn>.zip (the binary s.yaml names as handler).
package: build
	@for fn in $(FUNCTIONS); do \
	  $(GO) run ./functions/internal/pack -o $(DIST)/aws/$$fn.zip -name bootstrap $(BIN)/aws/$$fn/bootstrap; \
	  $(GO) run ./functions/internal/pack -o $(DIST)/fc/$$fn.zip -name $$fn $(BIN)/fc/$$fn/$$fn; \
	  echo "packed $(DIST)/aws/$$fn.zip $(DIST)/fc/$$fn.zip"; done

## cfn-lint: lint template.yaml (with the SAM translator). Missing cfn-lint is loud, and fatal under CI.
# cfn-lint is found on PATH, or where pyenv or pip put it when the shell did not add those to PATH.
CFN_LINT ?= $(firstword $(shell command -v cfn-lint 2>/dev/null) $(wildcard $(HOME)/.pyenv/shims/cfn-lint $(HOME)/.local/bin/cfn-lint /usr/local/bin/cfn-lint))
cfn-lint:
	@if [ -n "$(CFN_LINT)" ]; then $(CFN_LINT) template.yaml && echo "cfn-lint template.yaml: clean"; \
	elif [ "$${CI:-}" = true ]; then echo "cfn-lint is missing: CI must lint template.yaml" >&2; exit 1; \
	else echo "*** SKIPPED: cfn-lint is not installed; template.yaml is NOT linted (pip install cfn-lint) ***" >&2; fi

## run: every function on one loopback port (CHPASS_ADDR, default 127.0.0.1:8080), on the embedded demo store.
run:
	@mkdir -p $(CACHE)
	$(GO) run ./functions/local

## invoke: run one function once on an event file and print the platform response.
## NOW=2026-11-24T04:10:00Z replays the signed samples at the time they were signed.
invoke:
	@mkdir -p $(CACHE)
	$(GO) run ./functions/$(FUNCTION) -event $(EVENT) $(if $(NOW),-now $(NOW))

## deps: what the tests need from outside Go: slapd and ldap-utils, and qemu-user-static to run the
## arm64 AWS binaries on another machine (installed with apt-get when root).
deps: ldap-deps qemu-deps chromium-deps
	$(GO) mod download

ldap-deps:
	@bash shared/ldap/testdata/install-deps.sh

## chromium-deps: Debian's chromium, for the self-service page's browser test.
chromium-deps:
	@bash functions/internal/setup/testdata/chromium.sh install

qemu-deps:
	@bash functions/internal/e2e/testdata/install-qemu.sh

## ldap-up / ldap-down: a private slapd with the ppolicy overlay, for tests and `make run` against LDAP.
ldap-up: ldap-deps
	@bash shared/ldap/testdata/slapd.sh up $(LDAP_DIR)

ldap-down:
	@bash shared/ldap/testdata/slapd.sh down $(LDAP_DIR)

## test: every test, with a real slapd started for the LDAP tests and stopped after; cfn-lint on
## template.yaml; the packaged zips run through loopback Lambda and Function Compute runtime APIs.
test: deps cfn-lint package
	@bash shared/ldap/testdata/slapd.sh up $(LDAP_DIR); \
	trap 'bash shared/ldap/testdata/slapd.sh down $(LDAP_DIR)' EXIT; \
	source $(LDAP_DIR)/env; \
	CHPASS_DIST=$(CURDIR)/$(DIST) $(GO) test -race -count=1 -timeout 8m ./...

## bench: benchmarks with figures and ratios (needs slapd for the LDAP ones, and the packaged
## zips for the cold start).
bench: deps package
	@bash shared/ldap/testdata/slapd.sh up $(LDAP_DIR); \
	trap 'bash shared/ldap/testdata/slapd.sh down $(LDAP_DIR)' EXIT; \
	source $(LDAP_DIR)/env; \
	CHPASS_DIST=$(CURDIR)/$(DIST) $(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 20m ./...

clean:
	rm -rf $(BIN) dist $(CACHE)
