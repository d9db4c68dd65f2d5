# The few targets a newcomer needs. Every target installs what it uses first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODE_BIN := node_modules/.bin
BUF := $(NODE_BIN)/buf
PROTO_FILES := $(shell find proto -name '*.proto')
# The wire contract `buf breaking` holds proto/ to; `make proto-baseline` records a new one.
PROTO_BASELINE := proto/baseline/authgate-v1.binpb
# Generated clients (never committed; see docs/clients.md).
CLIENTS := build/clients
# The container image (Containerfile). Its base where no registry serves python:3.11-slim: a
# debootstrapped Debian kept in podman's store, tagged with the hash of the script that makes it.
IMAGE ?= localhost/authgate:latest
BASE_SCRIPT := deploy/container/base.sh
BASE_IMAGE = localhost/authgate-base:$(shell sha256sum $(BASE_SCRIPT) | cut -c1-12)
# runc and cgroupfs: what podman runs containers with on machines without systemd or crun.
PODMAN := podman --runtime runc --cgroup-manager cgroupfs
CONTAINERS_CONF := /etc/containers/containers.conf
comma := ,
# pytest-xdist processes for `make test` (TEST_PROCESSES=0 runs the suite in one process).
TEST_PROCESSES ?= 2

.PHONY: run check test bench stubs clients chromium lint proto-lint proto-baseline clean \
	podman image image-test

# .venv with AuthGate and its client library (both editable) and the dev tools; redone when
# either pyproject.toml changes.
$(BIN)/.installed: pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e './clients/python[grpc]'
	touch $@

# The REST client generator and what its output imports, pinned in clients/requirements.txt.
$(BIN)/.clients-installed: $(BIN)/.installed clients/requirements.txt
	$(BIN)/pip install --quiet -r clients/requirements.txt
	touch $@

# buf, protoc-gen-es, openapi-typescript, grpc-js, newman, tsc: pinned in package.json and
# package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The google/api protos come from the installed googleapis-common-protos wheel.
build/proto-include/google/api/annotations.proto: $(BIN)/.installed
	$(BIN)/python proto/generate_stubs.py --include-only

# Every generated client, from the current contract: a typed Python REST client
# (openapi-python-client), TypeScript types of the REST bodies (openapi-typescript) and
# protobuf-ES messages (buf generate with the local protoc-gen-es, buf.gen.yaml).
$(CLIENTS)/.generated: $(BIN)/.clients-installed node_modules/.installed \
		build/proto-include/google/api/annotations.proto openapi/authgate.yaml $(PROTO_FILES) \
		buf.yaml buf.gen.yaml clients/openapi_for_clients.py clients/openapi-python-client.yaml
	rm -rf $(CLIENTS)
	$(BIN)/python clients/openapi_for_clients.py openapi/authgate.yaml $(CLIENTS)/openapi.json
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/openapi-python-client generate --meta none \
		--path $(CLIENTS)/openapi.json --config clients/openapi-python-client.yaml \
		--output-path $(CLIENTS)/python/authgate_rest
	$(NODE_BIN)/openapi-typescript $(CLIENTS)/openapi.json --output $(CLIENTS)/ts/openapi.d.ts
	$(BUF) generate --path proto/authgate
	touch $@

## run: install everything and serve both doors (REST :8000, gRPC :50051) on SQLite in ./var
run: $(BIN)/.installed
	$(BIN)/authgate serve

## check: the inner loop: unit and in-process door tests on SQLite, nothing but Python (< 60 s)
check: $(BIN)/.installed
	$(BIN)/pytest tests/unit tests/doors -m "not postgresql"

## test: install everything (clients, Chromium) and run every test, with branch coverage;
##       under CI=true, image-test too
test: $(BIN)/.installed node_modules/.installed clients chromium
	rm -f .coverage .coverage.*
	$(BIN)/pytest -n $(TEST_PROCESSES) --cov --cov-report=term
	@# CI also builds the container image and drives the guide against it (2 to 3 min clean).
	@if [ "$$CI" = true ]; then $(MAKE) --no-print-directory image-test; fi

## bench: measure against the floor and rewrite docs/benchmarks.md (~10 min; BENCH_ARGS=--quick for a smoke run)
bench: $(BIN)/.installed
	sh bench/install_tools.sh
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

## stubs: regenerate the committed Python gRPC stubs from proto/, and every client in build/clients
stubs: $(BIN)/.clients-installed node_modules/.installed
	$(BIN)/python proto/generate_stubs.py
	rm -f $(CLIENTS)/.generated
	$(MAKE) --no-print-directory clients

## clients: generate the clients in build/clients when the contract changed
clients: $(CLIENTS)/.generated

## chromium: install headless Chromium (Debian's package, as root) for the Swagger UI test
chromium:
	@command -v chromium >/dev/null || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

## podman: install podman, runc and debootstrap (Debian's packages, as root) for the image targets
podman:
	@command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y podman runc debootstrap; }
	@# Podman raises the containers' open-file limit by default, which a container host that
	@# caps its own (here, 20000) refuses: "error setting rlimit type 7". None by default.
	@grep -qs '^default_ulimits' $(CONTAINERS_CONF) || { \
		mkdir -p $(dir $(CONTAINERS_CONF)); \
		if grep -qs '^\[containers\]' $(CONTAINERS_CONF); then \
			sed -i '/^\[containers\]/a default_ulimits = []' $(CONTAINERS_CONF); \
		else printf '[containers]\ndefault_ulimits = []\n' >> $(CONTAINERS_CONF); fi; }

## image: build the container image $(IMAGE) with podman, from a debootstrapped Debian base
image: podman
	@$(PODMAN) image exists $(BASE_IMAGE) || sh $(BASE_SCRIPT) $(BASE_IMAGE)
	@# PIP_CERT (this machine's pip trusts a proxy's CA) reaches the build as a secret.
	$(PODMAN) build --file Containerfile --tag $(IMAGE) --build-arg BASE=$(BASE_IMAGE) \
		$(if $(PIP_CERT),--secret id=pip-cert$(comma)src=$(PIP_CERT)) .

## image-test: build the image, run it read-only as in production, drive the guide, SIGTERM it
image-test: image $(BIN)/.installed
	$(BIN)/python deploy/container/image_test.py $(IMAGE) $(PODMAN)

## proto-lint: buf lint, buf format, and buf breaking against the committed baseline
proto-lint: node_modules/.installed build/proto-include/google/api/annotations.proto
	$(BUF) lint --path proto/authgate
	$(BUF) format --diff --exit-code --path proto/authgate
	$(BUF) breaking proto --against $(PROTO_BASELINE)

## proto-baseline: record proto/ as the baseline; commit it with a deliberate contract change
proto-baseline: node_modules/.installed build/proto-include/google/api/annotations.proto
	$(BUF) build proto --exclude-source-info -o $(PROTO_BASELINE)

## lint: ruff, mypy --strict by package, import-linter (the layers), and buf
lint: $(BIN)/.installed proto-lint
	$(BIN)/ruff check service tests proto clients deploy $(wildcard bench)
	$(BIN)/ruff format --check service tests proto clients deploy $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) node_modules build test-artifacts
