.PHONY: setup lint test demo
PY := .venv/bin/python

setup:
	bash tools/setup_env.sh

lint: setup
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest tests

demo: setup
	$(PY) tools/run_demo.py
