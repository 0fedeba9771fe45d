# tunepilot — the two commands:
#   make run    set up (venv, right extra for this machine, demo model) and start the product on 127.0.0.1
#   make test   set up with test tools and run the whole suite (fast + slow tiers)
VENV ?= .venv
TP = $(VENV)/bin/tunepilot
PYTEST = $(VENV)/bin/python -m pytest
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY = 1
export GRADIO_ANALYTICS_ENABLED = False
export ORT_DISABLE_TELEMETRY = 1

.PHONY: run setup test test-fast lint bench

setup:
	@scripts/setup.sh

run: setup
	@$(TP) models demo >/dev/null
	@scripts/start.sh

test:
	@scripts/setup.sh dev
	@$(TP) models demo >/dev/null
	$(PYTEST) -q --durations=25

test-fast:
	@scripts/setup.sh dev
	$(PYTEST) -q -m "not slow"

lint:
	$(VENV)/bin/ruff check tunepilot agent tools ui tests bench
	$(VENV)/bin/mypy tunepilot agent tools ui

bench:
	$(VENV)/bin/python bench/data.py
	$(VENV)/bin/python bench/train.py
