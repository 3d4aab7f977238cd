# The two set-up commands: `make run` and `make test` (README).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
NODE_DIR := tests/interop/node

.PHONY: run test test-fast bench venv interop-deps system-deps clean wheel-check mutants mutants-fast demo-network

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required (Spyne 2.14 does not run on 3.12+): set PYTHON=..."'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

# Start a node on 127.0.0.1:8080 with SQLite in ./var, hosting the demo organisations.
run: venv
	$(BIN)/gateway migrate
	$(BIN)/gateway serve

# A hub and two regional nodes on loopback (ports 8180-8182) with the demo organisations, joined with
# `gateway pki request/sign` and `gateway directory add-node/add-org`; letters with Thai subjects cross
# them. Configurations, data and logs in ./var/demo-network/ (docs/joining.md). Ctrl-C stops them.
demo-network: venv
	$(BIN)/python tools/demo_network.py

# Foreign SOAP clients used by the interop tests (npm `soap` on the machine's Node.js).
interop-deps: system-deps $(NODE_DIR)/node_modules/.installed

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages the tests use: PostgreSQL server binaries (the suite starts its own
# cluster), xmlsec1 (signature interop), and the foreign SOAP stacks whose generated clients
# run the interop flow (tests/interop/README.md): Node.js and npm, PHP with SoapClient, JAX-WS
# (wsimport, with the JDK), Mono (wsdl, mcs); Chromium and ChromeDriver, with a Thai font, for the
# browser tests of the HTML reports; nginx, whose shipped site file the deployment test runs in front
# of gunicorn. Installed when missing and we are root.
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	command -v xmlsec1 >/dev/null || missing="$$missing xmlsec1"; \
	command -v node >/dev/null || missing="$$missing nodejs npm"; \
	php -r 'exit(class_exists("SoapClient") ? 0 : 1);' 2>/dev/null || missing="$$missing php-cli php-soap"; \
	command -v wsimport >/dev/null || missing="$$missing jaxws"; \
	{ command -v wsdl >/dev/null && command -v mcs >/dev/null; } || missing="$$missing mono-devel"; \
	{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || missing="$$missing chromium chromium-driver"; \
	fc-list :lang=th 2>/dev/null | grep -q . || missing="$$missing fonts-thai-tlwg"; \
	{ command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "install the Debian packages:$$missing" >&2; exit 1; fi; \
	fi

# The whole suite: unit, operations (in memory), integration on memory, SQLite and PostgreSQL
# (started by the tests), acceptance; the wheel check first, so pytest's summary is the last line.
test: venv system-deps interop-deps wheel-check mutants-fast
	CI=$${CI:-} $(BIN)/python -m pytest -q

# Mutation testing of the guarantees (docs/guarantees.md): every mutation must be killed.
mutants: venv system-deps
	$(BIN)/python tools/mutants.py

mutants-fast: venv system-deps
	$(BIN)/python tools/mutants.py --fast

# The wheel built from this checkout, installed in a fresh virtual environment elsewhere, serves
# the WSDL, validates and migrates (the contract and SQL ship as package data).
wheel-check: venv
	$(BIN)/python tools/wheel_check.py

test-fast: venv
	$(BIN)/python -m pytest -q tests/unit tests/operations

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var $(NODE_DIR)/node_modules .pytest_cache .cache
