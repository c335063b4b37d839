# The two commands of the README:  `make demo` (the whole pipeline on generated data)
# and `make test` (the test suite).  Both set up ./.venv first (tools/setup_env.sh).
# `make test-fast` runs the suite's fast subset (tests not marked slow: tests/conftest.py).
# `make test-stack TORCH=2.1.2` checks another torch in a side environment (.venv-torch2.1.2).
PY := .venv/bin/python
TORCH ?= 2.14.1

.PHONY: setup demo test test-fast test-stack
setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo.py $(DEMO_ARGS)

test: setup
	$(PY) -m pytest tests $(PYTEST_ARGS)

# The fast subset (at most 2 minutes on 2 cores): every test not marked slow (tests/conftest.py).
test-fast: setup
	$(PY) -m pytest tests -m 'not slow' $(PYTEST_ARGS)

test-stack:
	bash tools/test_stack.sh $(TORCH) $(PYTEST_ARGS)
