# The two commands of the README:  `make demo` (the whole pipeline on generated data)
# and `make test` (the test suite).  Both set up ./.venv first (tools/setup_env.sh).
PY := .venv/bin/python

.PHONY: setup demo test
setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo.py $(DEMO_ARGS)

test: setup
	$(PY) -m pytest tests $(PYTEST_ARGS)
