# chpass: make run (the local server on the embedded demo store) and make test (every test).
SHELL      := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := default

FUNCTIONS  := caller-password modify-user-passwords rotate-password
GO         ?= go
GOFLAGS    := -trimpath
LDFLAGS    := -s -w -buildid=
# VERSION is stamped into every binary (-version prints it, the start log line carries it).
VERSION    ?= 0.0.0-dev
VERSION_LDFLAGS = -X chpass/functions/internal/setup.Stamp=chpass.version($(VERSION))
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
SAMBA_DIR  := $(CACHE)/samba
REDIS_DIR  := $(CACHE)/redis
export CHPASS_CONFIG ?= $(DEMO)

.PHONY: licenses release sbom-tool
.PHONY: fuzz load
.PHONY: redis-deps redis-up redis-down
.PHONY: chromium-deps
.PHONY: default fmt vet lint build build-aws build-fc package cfn-lint local run invoke demo-reset test bench deps ldap-deps qemu-deps ldap-up ldap-down samba-deps samba-up samba-down clean \
	build-CallerPasswordFunction build-ModifyUserPasswordsFunction build-RotatePasswordFunction

## default (a bare `make`): gofmt, go vet and the binaries; nothing is installed. `make test` runs the tests.
default: lint build

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

GOBUILD_AWS = CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(GOFLAGS) -buildvcs=false -tags $(TAGS_AWS) -ldflags '$(LDFLAGS) $(VERSION_LDFLAGS)'
GOBUILD_FC  = CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build $(GOFLAGS) -buildvcs=false -tags $(TAGS_FC) -ldflags '$(LDFLAGS) $(VERSION_LDFLAGS)'

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

build-RotatePasswordFunction:
	$(GOBUILD_AWS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/rotate-password

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

## run: every function on one loopback port (CHPASS_ADDR, default 127.0.0.1:8080). With the demo
## configuration it starts from a fresh demo store (.cache/chpass-demo.db) unless KEEP=1.
# DEMO_FLAGS starts the demo over: only with the demo configuration, and not with KEEP=1.
DEMO_FLAGS = $(if $(filter $(DEMO),$(CHPASS_CONFIG)),$(if $(KEEP),,-fresh))

local:
	@mkdir -p $(CACHE)
	@echo "compiling functions/local into $(BIN)/local (the first build takes a minute or two, later ones seconds)..." >&2
	@$(GO) build -o $(BIN)/local ./functions/local

run: local
	$(BIN)/local $(DEMO_FLAGS)

## invoke: run one function once on an event file; the response's status on stderr, its body on stdout.
## Signed samples are signed again now with the demo keys; NOW=2026-11-24T04:10:00Z replays them as
## recorded. With the demo configuration it uses its own fresh store (.cache/chpass-invoke.db, kept
## with KEEP=1), so it works beside `make run`.
invoke: local
	@$(BIN)/local -invoke $(FUNCTION) -event $(EVENT) $(if $(NOW),-now $(NOW)) \
	  $(if $(filter $(DEMO),$(CHPASS_CONFIG)),-store $(CACHE)/chpass-invoke.db) $(DEMO_FLAGS)

## demo-reset: forget every change made to the demo stores (stop `make run` first).
demo-reset:
	rm -f $(CACHE)/chpass-demo.db $(CACHE)/chpass-invoke.db

## deps: what the tests need from outside Go: slapd and ldap-utils, and qemu-user-static to run the
## arm64 AWS binaries on another machine (installed with apt-get when root).
deps: ldap-deps qemu-deps samba-deps redis-deps chromium-deps
	$(GO) mod download

ldap-deps:
	@bash shared/ldap/testdata/install-deps.sh

## chromium-deps: Debian's chromium, for the self-service page's browser test.
chromium-deps:
	@bash functions/local/testdata/chromium.sh install

qemu-deps:
	@bash functions/internal/e2e/testdata/install-qemu.sh

## ldap-up / ldap-down: a private slapd with the ppolicy overlay, for tests and `make run` against LDAP.
ldap-up: ldap-deps
	@bash shared/ldap/testdata/slapd.sh up $(LDAP_DIR)

ldap-down:
	@bash shared/ldap/testdata/slapd.sh down $(LDAP_DIR)

## redis-up / redis-down: a private redis-server (TLS, passwords) for the shared-state tests.
redis-deps:
	@bash shared/redis/testdata/install-deps.sh

redis-up: redis-deps
	@bash shared/redis/testdata/redis.sh up $(REDIS_DIR)

redis-down:
	@bash shared/redis/testdata/redis.sh down $(REDIS_DIR)

## samba-deps / samba-up / samba-down: a throwaway Samba AD domain controller (realm EXAMPLE.TEST,
## fixed ports 389/636, root needed) for the Active Directory tests; `source .cache/samba/env`.
samba-deps:
	@bash shared/ldap/testdata/install-samba.sh

samba-up: samba-deps
	@bash shared/ldap/testdata/samba.sh up $(SAMBA_DIR)

samba-down:
	@bash shared/ldap/testdata/samba.sh down $(SAMBA_DIR)

# SERVERS_UP starts slapd, redis-server and Samba AD for the tests and stops them on exit. Without Samba (not
# root, not installed) the AD tests skip loudly, except under CI=true, where that fails.
SERVERS_UP = trap 'bash shared/ldap/testdata/slapd.sh down $(LDAP_DIR); bash shared/redis/testdata/redis.sh down $(REDIS_DIR); bash shared/ldap/testdata/samba.sh down $(SAMBA_DIR)' EXIT; \
	bash shared/ldap/testdata/slapd.sh up $(LDAP_DIR); source $(LDAP_DIR)/env; \
	bash shared/redis/testdata/redis.sh up $(REDIS_DIR); source $(REDIS_DIR)/env; \
	bash shared/ldap/testdata/samba.sh up $(SAMBA_DIR) || [ "$${CI:-}" != true ]; \
	if [ -f $(SAMBA_DIR)/env ]; then source $(SAMBA_DIR)/env; fi

## test: every test, with a real slapd, a redis-server and a Samba AD domain started for the directory tests and
## stopped after; cfn-lint on
## template.yaml; the packaged zips run through loopback Lambda and Function Compute runtime APIs.
test: deps cfn-lint package sbom-tool
	@$(SERVERS_UP); \
	CHPASS_CYCLONEDX=$(CURDIR)/$(CYCLONEDX) CHPASS_DIST=$(CURDIR)/$(DIST) $(GO) test -race -count=1 -timeout 15m ./...

## bench: benchmarks with figures and ratios (needs slapd for the LDAP ones, and the packaged
## zips for the cold start).
bench: deps package
	@$(SERVERS_UP); \
	CHPASS_DIST=$(CURDIR)/$(DIST) $(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 20m ./...

## fuzz: every fuzz target (func FuzzX in a _test.go file) for FUZZTIME each. `make test` runs their seed
## corpora only, as plain tests. FUZZMINIMIZE bounds the minimisation of each new input by a count, so that
## the fuzzer does not sit at 0 execs/s minimising on a loaded 2-core machine.
FUZZTIME     ?= 30s
FUZZMINIMIZE ?= 50x
fuzz:
	@grep -rl --include='*_test.go' '^func Fuzz' shared functions | sort | while read -r f; do \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f"); do \
	    echo "== $$t ($$(dirname $$f)) for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./$$(dirname $$f) || exit 1; \
	  done; done

## load: the local server on a fresh embedded store, driven over loopback by signed requests of both APIs
## (LOAD_N requests, LOAD_C at a time, LOAD_RUNS runs); prints throughput, latencies, codes and the server's RSS.
LOAD_N    ?= 1000
LOAD_C    ?= 20
LOAD_RUNS ?= 2
load:
	$(GO) run ./functions/internal/load -n $(LOAD_N) -c $(LOAD_C) -runs $(LOAD_RUNS)

clean:
	rm -rf $(BIN) dist $(CACHE)

# ---- release (issue 15): licenses, SBOMs, versioned zips, SHA256SUMS, templates ----

## licenses: regenerate THIRD_PARTY_LICENSES.md (module, version, license of everything the binaries
## link, and the data they ship) from the license files in the module cache. A test fails when it is stale.
licenses:
	$(GO) mod download
	$(GO) run ./functions/internal/licenses -o THIRD_PARTY_LICENSES.md

# cyclonedx-gomod writes the SBOMs; installed for the host (GOOS/GOARCH of a release build would
# otherwise cross-compile the tool itself), pinned, from the Go module proxy.
CYCLONEDX := $(CACHE)/bin/cyclonedx-gomod
sbom-tool:
	@test -x $(CYCLONEDX) || GOBIN=$(CURDIR)/$(CACHE)/bin GOOS= GOARCH= $(GO) install github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0

## release: make release VERSION=x.y.z writes dist/release/x.y.z/: the zips of make package named
## chpass-x.y.z-<cloud>-<fn>.zip, a CycloneDX SBOM for each, template.yaml and s.yaml with the version and
## the zips filled in, the Serverless Devs registry package, LICENSE, README, CHANGELOG, third-party
## licenses and SHA256SUMS. The same sources give the same bytes.
release:
	@if [[ ! "$(VERSION)" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$$ ]]; then \
	  echo "usage: make release VERSION=x.y.z (got '$(VERSION)')" >&2; exit 2; fi
	@$(MAKE) --no-print-directory package sbom-tool VERSION=$(VERSION)
	$(GO) run ./functions/internal/release -version $(VERSION) -cyclonedx $(CYCLONEDX) -dist $(DIST) -o $(DIST)/release/$(VERSION)

