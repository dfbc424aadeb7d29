# RE Studio. `make run` and `make test` work on a fresh machine: they create .venv,
# install everything, seed the demo workspace and then start the app / run the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= localhost
PORT ?= 8501
export RESTUDIO_HOME ?= $(CURDIR)/workspace

.PHONY: setup run seed test test-unit lint browser screenshots bench clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch (issue 3 onwards) must stay pinned to 2.13.0: pip then takes the local CPU wheel.
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

# Browser libraries bertviz loads from a CDN (require.js 2.3.6, d3 5.7.0 as bertviz pins it, jQuery 2),
# installed with npm and copied into assets/vendor/ (not committed) so the Explain view draws offline.
VENDOR := assets/vendor
$(VENDOR)/.installed: assets/package.json assets/package-lock.json
	@command -v npm >/dev/null || { \
		echo "npm is missing: installing Debian's npm (needs root or sudo)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq npm >/dev/null; }
	cd assets && npm install --no-audit --no-fund
	mkdir -p $(VENDOR)
	cp assets/node_modules/requirejs/require.js $(VENDOR)/require.js
	cp assets/node_modules/d3/dist/d3.min.js $(VENDOR)/d3.min.js
	cp assets/node_modules/jquery/dist/jquery.min.js $(VENDOR)/jquery.min.js
	touch $@

.PHONY: assets
assets: $(VENDOR)/.installed

setup: $(STAMP) assets

seed: setup
	$(BIN)/python -m core seed

run: seed
	$(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT)

# Browser tests drive Debian's chromium; install it (and CJK fonts for Korean) when missing.
browser:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi
	@/usr/bin/chromium --version

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup browser lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15

test-unit: setup
	$(BIN)/python -m pytest tests/unit

# Re-take the README screenshots (the browser test writes them when this is set).
screenshots: setup browser
	RESTUDIO_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest tests/e2e -q

bench: setup
	$(BIN)/python bench/audit.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/explain.py
	$(BIN)/python bench/ensemble.py
	$(BIN)/python bench/data_view.py
	$(BIN)/python bench/evaluate.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
