# Two commands on a fresh machine: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYBABEL := $(VENV)/bin/pybabel
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PO := $(wildcard locales/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

.PHONY: run test install lint typecheck check extract-messages update-messages translations _translations bench console clean

run: install
	$(PY) -m bot

console: install
	$(PY) -m bot console

test: install
	$(PY) -m pytest -q -rs $(PYTEST_ARGS)

install: $(STAMP) $(MO)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

locales/%/LC_MESSAGES/messages.mo: locales/%/LC_MESSAGES/messages.po $(STAMP)
	$(PYBABEL) compile -D messages -i $< -o $@

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
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
