PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: devnet test lint clean tools

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

devnet: $(STAMP)
	$(BIN)/finchain devnet up

# The Ethereum tool tests drive ethers and Foundry's cast, which come from npm; the explorer's
# browser test drives Debian's chromium through Playwright (never a browser Playwright downloads).
tools: $(STAMP)
	@command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null)
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
	$(BIN)/python -m tests.devnet.npm_tools

test: $(STAMP) tools
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .devnet .pytest_cache
