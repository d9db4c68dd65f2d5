# The few targets a newcomer needs. Every target installs what it uses first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BUF := node_modules/.bin/buf

.PHONY: run test stubs lint proto-lint clean

# .venv with AuthGate (editable) and its dev tools; redone when pyproject.toml changes.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# buf, pinned in package.json / package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The google/api protos come from the installed googleapis-common-protos wheel.
build/proto-include/google/api/annotations.proto: $(BIN)/.installed
	$(BIN)/python proto/generate_stubs.py --include-only

## run: install everything and serve both doors (REST :8000, gRPC :50051) on SQLite in ./var
run: $(BIN)/.installed
	$(BIN)/authgate serve

## test: install everything and run every test
test: $(BIN)/.installed node_modules/.installed
	$(BIN)/pytest

## stubs: regenerate the committed Python gRPC stubs from proto/
stubs: $(BIN)/.installed
	$(BIN)/python proto/generate_stubs.py

## proto-lint: buf lint and buf format on proto/
proto-lint: node_modules/.installed build/proto-include/google/api/annotations.proto
	$(BUF) lint --path proto/authgate
	$(BUF) format --diff --exit-code --path proto/authgate

## lint: ruff and buf
lint: $(BIN)/.installed proto-lint
	$(BIN)/ruff check service tests proto $(wildcard bench)
	$(BIN)/ruff format --check service tests proto $(wildcard bench)

clean:
	rm -rf $(VENV) node_modules build
