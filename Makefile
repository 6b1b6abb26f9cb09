# Two commands on a fresh machine: `make demo` and `make test`. Both create the virtualenv
# and install cornkit into it first (once; again only when pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/cornkit demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest

clean:
	rm -rf demo .pytest_cache
