# Fresh machine: `make demo` (install + colorize the sample clip) or `make test` (install + checks).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: install test test-fast lint demo bench clean

# Re-install only when the project's dependency files change.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev]'
	touch $@

install: $(VENV)/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -q

# The edit loop: every test but the slow ones (SIGKILL resume, torchrun, long clips).
test-fast: install
	$(BIN)/pytest -q -m "not slow"

# The demo: colorize the sample clip and stills in examples/ with the shipped model (or
# MODEL=path/to/model.safetensors), then write a gray | colour picture of both.
MODEL    ?=
DEMO_OUT ?= demo_out
MODEL_OPT = $(if $(MODEL),--model $(MODEL))

demo: install
	mkdir -p $(DEMO_OUT)
	$(BIN)/filmcolor colorize examples/sample.mp4 -o $(DEMO_OUT)/sample_color.mp4 --overwrite $(MODEL_OPT)
	$(BIN)/filmcolor frames examples/stills -o $(DEMO_OUT)/stills --overwrite $(MODEL_OPT)
	$(BIN)/python examples/side_by_side.py --clip examples/sample.mp4 \
		--colour $(DEMO_OUT)/sample_color.mp4 --stills examples/stills \
		--colour-stills $(DEMO_OUT)/stills -o $(DEMO_OUT)/side_by_side.png
	@echo
	@echo "Colorized clip:   $(DEMO_OUT)/sample_color.mp4  (input: examples/sample.mp4)"
	@echo "Colorized stills: $(DEMO_OUT)/stills/  (input: examples/stills/)"
	@echo "Before | after:   $(DEMO_OUT)/side_by_side.png"
	@echo
	@echo "To run filmcolor yourself:  . $(VENV)/bin/activate  (then: filmcolor --help)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
