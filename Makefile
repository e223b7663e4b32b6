# privgate — the two commands: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-proxy test setup link lint typecheck unit bench clean superset

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip 'setuptools>=77' wheel
	$(BIN)/pip install -q -e '.[dev]' --config-settings editable_mode=strict
	touch $(STAMP)

setup: $(STAMP) link

# Strict editable installs link each file; refresh the link tree so new modules are importable.
link: $(STAMP)
	@$(BIN)/pip install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=strict

DEMO_DB := .privgate/demo.duckdb
DEMO_DP := SELECT c.country, count(*) AS orders, avg(o.amount) AS avg_amount FROM sales.orders o JOIN sales.customers c ON c.customer_id = o.customer_id GROUP BY c.country ORDER BY orders DESC

$(DEMO_DB): | $(STAMP)
	$(BIN)/privgate demo-data $(DEMO_DB)

demo: setup $(DEMO_DB)
	$(BIN)/privgate demo
	@echo "== A DP answer from the demo warehouse ($(DEMO_DB)), charged to ana's budget:"
	$(BIN)/privgate query --principal ana --sql "$(DEMO_DP)"
	@echo "== A row-level read: masked, consent-filtered, capped:"
	$(BIN)/privgate query --principal ana --sql "SELECT customer_id, full_name, email, country FROM sales.customers ORDER BY customer_id LIMIT 5"
	@echo "== A denial (exit code 1 is expected here):"
	-$(BIN)/privgate query --principal ana --sql "SELECT customer_id, ssn FROM sales.customers"
	@echo "== The ledger:"
	$(BIN)/privgate ledger show
	@echo "== Finally the BI proxy: PostgreSQL wire protocol on 127.0.0.1:6432, upstream an embedded PostgreSQL"
	@echo "   loaded with the demo warehouse. Connect with the psql line it prints; Ctrl-C stops it."
	$(BIN)/privgate serve

# Only the BI proxy (docs/proxy.md); prints how to connect.
demo-proxy: setup
	$(BIN)/privgate serve

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy -p privgate

# The official SARIF 2.1.0 JSON schema, from Microsoft's sarif-js-sdk package on the npm registry,
# so the SARIF validity test runs offline afterwards.
SARIF_SCHEMA := .cache/sarif-schema-2.1.0.json
$(SARIF_SCHEMA):
	mkdir -p .cache/npm
	cd .cache/npm && npm pack --silent @microsoft/jest-sarif@1.0.0-beta.0 >/dev/null \
	  && tar xzf microsoft-jest-sarif-1.0.0-beta.0.tgz package/lib/schemas/sarif-2.1.0-rtm.5.json
	mv .cache/npm/package/lib/schemas/sarif-2.1.0-rtm.5.json $@

# node-postgres for the proxy's client tests (tests/test_pgwire_clients.py), from the npm registry.
NODE_PG := .cache/node-pg/node_modules/pg
$(NODE_PG):
	mkdir -p .cache/node-pg && cd .cache/node-pg && npm install --silent --no-audit --no-fund pg@8.23.1 >/dev/null

node-pg: $(NODE_PG)

# Apache Superset from PyPI for tests/test_pgwire_superset.py, in its own venv: its dependency set cannot share
# privgate's. Every package pinned in tests/superset/constraints.txt (why two of them: see that file).
SUPERSET_VENV  := .cache/venv-superset
SUPERSET_STAMP := $(SUPERSET_VENV)/.installed
$(SUPERSET_STAMP): tests/superset/constraints.txt
	rm -rf $(SUPERSET_VENV)
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/pip install -q -U pip
	$(SUPERSET_VENV)/bin/pip install -q -c tests/superset/constraints.txt apache-superset psycopg2-binary \
	  marshmallow marshmallow-sqlalchemy
	touch $@

superset: $(SUPERSET_STAMP)

unit: setup $(SARIF_SCHEMA) $(NODE_PG) $(SUPERSET_STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

bench: setup
	$(BIN)/python benchmarks/decide.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
