# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.13
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test lint install migrate clean bench

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The official openai clients that tests/test_api_clients.py drives the API with, each major in
# use: the Python SDK's current major is in .venv (pyproject.toml), its previous one in a venv of
# its own; the npm package's two majors sit side by side (tests/js/package.json), with axe-core
# for tests/test_browser_a11y.py's accessibility audit.
tests/.sdk/venv-openai2/.installed: tests/sdk/requirements-openai2.txt
	test -x tests/.sdk/venv-openai2/bin/python || $(PYTHON) -m venv tests/.sdk/venv-openai2
	tests/.sdk/venv-openai2/bin/pip install --quiet -r tests/sdk/requirements-openai2.txt
	touch $@

# localstripe, the fake Stripe API that tests/fakes/stripe.py runs as a separate process (it is
# GPL-3.0: never imported, only spoken to over HTTP), in a venv of its own.
tests/.sdk/venv-localstripe/.installed: tests/sdk/requirements-localstripe.txt
	test -x tests/.sdk/venv-localstripe/bin/python || $(PYTHON) -m venv tests/.sdk/venv-localstripe
	tests/.sdk/venv-localstripe/bin/pip install --quiet -r tests/sdk/requirements-localstripe.txt
	touch $@

tests/js/node_modules/.installed: tests/js/package.json
	cd tests/js && npm install --no-package-lock --no-audit --no-fund --silent
	touch $@

install: $(BIN)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_catalog
	$(BIN)/python manage.py sweep_generations --schedule

# The site under uvicorn, with the background task worker beside it; Ctrl-C stops both.
run: migrate
	@echo
	@echo "  Open http://$(HOST):$(PORT)/  (sign up, then verify your email for free starter credits: the mail is in var/mail/)"
	@echo "  API base URL: http://$(HOST):$(PORT)/v1   (make a key: $(BIN)/python manage.py create_api_key YOU --credits 5)"
	@echo
	@trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py run_tasks & worker=$$!; \
	$(BIN)/uvicorn playground.asgi:application --host $(HOST) --port $(PORT)

test: install tests/js/node_modules/.installed tests/.sdk/venv-openai2/.installed \
		tests/.sdk/venv-localstripe/.installed
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The benchmarks of bench/ (bench/README.md): each starts and stops what it needs on loopback.
bench/.venv-litellm/.installed: bench/requirements-litellm.txt
	test -x bench/.venv-litellm/bin/python || $(PYTHON) -m venv bench/.venv-litellm
	bench/.venv-litellm/bin/pip install --quiet -r bench/requirements-litellm.txt
	touch $@

bench: install bench/.venv-litellm/.installed
	$(BIN)/python bench/all.py

clean:
	rm -rf $(VENV) var
