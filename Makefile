# Two commands on a fresh machine: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYBABEL := $(VENV)/bin/pybabel
LOCK := requirements/lock.txt
# uv only resolves (`make upgrade`, `make test-latest`); installs come from the hashed lock with pip.
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
LATEST := .venv-latest
PO := $(wildcard locales/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

.PHONY: browser screenshots run test test-latest upgrade lock-check install lint typecheck check extract-messages update-messages translations _translations bench console clean

run: install
	$(PY) -m bot

console: install
	$(PY) -m bot console

test: install
	$(PY) -m pytest -q -rs $(PYTEST_ARGS)

install: $(STAMP) $(MO)

# The locked versions, every file checked against its hash; then the project itself, without
# resolving anything again.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

locales/%/LC_MESSAGES/messages.mo: locales/%/LC_MESSAGES/messages.po $(STAMP)
	$(PYBABEL) compile -D messages -i $< -o $@

$(UV):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)

# The newest releases pyproject.toml's ranges allow, into a lock for every Python we support.
upgrade: $(UV)
	$(UV) pip compile --quiet pyproject.toml --extra dev --generate-hashes --universal \
		--python-version 3.11 --upgrade -o $(LOCK)
	$(MAKE) --no-print-directory lock-check

# Python 3.11 and 3.12 each resolve within the ranges (no interpreter needed).
lock-check: $(UV)
	for v in 3.11 3.12; do \
		$(UV) pip compile --quiet pyproject.toml --extra dev --python-version $$v -o /dev/null || exit 1; \
	done

# The suite on SQLite against the newest releases the ranges allow (not the lock), in a venv of
# its own: an upstream release that breaks us shows here before a deployer meets it. Without the
# browser test (tests/browser): Selenium drives the test, it is not part of the bot.
test-latest: $(UV) $(MO)
	rm -rf $(LATEST)
	$(UV) venv --quiet --python $(PYTHON) $(LATEST)
	$(UV) pip install --quiet --python $(LATEST)/bin/python --refresh -e '.[dev]'
	$(UV) pip list --python $(LATEST)/bin/python | grep -iE '^(aiogram|aiohttp|aiosqlite|asyncpg|sqlalchemy|pydantic|alembic|apscheduler|babel) '
	TEST_DATABASES=sqlite $(LATEST)/bin/python -m pytest -q -rs -p no:cacheprovider -m 'not slow and not browser' $(PYTEST_ARGS)

# Debian's chromium and its driver for the browser tests (tests/browser) and bench/dashboard.py:
# CI runs this before the tests (as root; elsewhere through sudo when not root). Selenium, a
# dev dependency in the lock, drives /usr/bin/chromedriver and never downloads a driver.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
		echo "chromium and chromedriver are installed"; \
	else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
			chromium chromium-driver; \
	fi

# The README's pictures of the dashboard: the browser test takes them (build/screenshots/), this
# copies them into docs/.
screenshots: install browser
	rm -f build/screenshots/dashboard-*.png
	TEST_DATABASES=sqlite REQUIRE_BROWSER=1 $(PY) -m pytest -q -p no:cacheprovider tests/browser
	cp build/screenshots/dashboard-*.png docs/

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck test

# After changing texts in code: refresh messages.pot and merge it into each catalog.
extract-messages: install
	$(PYBABEL) extract --no-location --sort-output -F babel.cfg -k __ -k ngettext:1,2 \
		--width 100 --project win4ua-bot --copyright-holder 'WIN4UA bot contributors' \
		-o locales/messages.pot bot handlers

update-messages: extract-messages
	$(PYBABEL) update --no-fuzzy-matching --ignore-obsolete --width 100 -D messages -i locales/messages.pot -d locales
	$(PY) tools/catalogs.py fill-english

# Several people (or agents) may add texts at once: this takes a lock, refreshes the catalogs,
# applies any pending translations (locales/pending/*.json) and compiles.
translations: install
	flock /tmp/win4ua-catalogs.lock $(MAKE) --no-print-directory _translations

_translations: update-messages
	for f in locales/pending/*.json; do [ -e "$$f" ] && $(PY) tools/catalogs.py translate "$$f" || true; done
	$(MAKE) --no-print-directory $(MO)

bench: install
	$(PY) bench/dispatch.py

clean:
	rm -rf $(VENV) $(LATEST) .pytest_cache .ruff_cache .mypy_cache
