.PHONY: setup test demo
PY := .venv/bin/python

setup:
	bash tools/setup_env.sh

test: setup
	$(PY) -m pytest tests

demo: setup
	$(PY) tools/run_demo.py
