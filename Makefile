# The two commands of the README: `make demo` and `make test`. Both create/update the virtual
# environment in .venv first. torch is installed with an exact pin before anything else: an unpinned
# torch makes pip fetch a multi-GB CUDA build.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION := 2.13.0
DEMO_OUT ?= demo_output
PYTEST_ARGS ?=

DEPLOY_VENV ?= .venv-deploy

.PHONY: setup demo test test-fast test-deploy deploy-env ci lint clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==$(TORCH_VERSION)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(PY) -m echo_monai.demo --output-dir $(DEMO_OUT)

# pytest exits 5 when it collected no test: that means the suite is broken, so it fails here too.
test: setup
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is broken"; exit 1; fi; exit $$rc

test-fast: setup
	@$(MAKE) --no-print-directory test PYTEST_ARGS="-m 'not slow' $(PYTEST_ARGS)"

# The MONAI Deploy SDK environment, separate from the training one (holoscan + cupy, about 2 GB).
deploy-env: $(DEPLOY_VENV)/.installed

$(DEPLOY_VENV)/.installed: setup.cfg pyproject.toml
	test -x $(DEPLOY_VENV)/bin/python || $(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DEPLOY_VENV)/bin/python -m pip install --quiet torch==$(TORCH_VERSION)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet -e '.[dev,deploy]'
	touch $@

# Only the tests that need the SDK (the rest of tests/deploy runs in `make test`). The import comes first:
# in this environment a missing or broken SDK must fail, not skip the test.
test-deploy: deploy-env
	$(DEPLOY_VENV)/bin/python -c "import monai.deploy, highdicom"
	$(DEPLOY_VENV)/bin/python -m pytest tests/deploy -m deploy

# What CI runs (.ci/run): `make test`, and `make test-deploy` in its own environment. The SDK environment
# is built and its test run in the background while the main suite runs (the install waits mostly on
# the disk and the network, the suite on the CPU); its output is printed once both have finished, and
# either failing fails CI. The main environment is set up first, alone: both installs write this
# checkout's echo_monai.egg-info.
ci: setup
	@log=$$(mktemp); \
	$(MAKE) --no-print-directory test-deploy > $$log 2>&1 & deploy=$$!; \
	$(MAKE) --no-print-directory test; main=$$?; \
	wait $$deploy; dep=$$?; \
	echo "== make test-deploy (MONAI Deploy SDK environment $(DEPLOY_VENV)), exit $$dep =="; \
	cat $$log; rm -f $$log; \
	if [ $$main -ne 0 ] || [ $$dep -ne 0 ]; then echo "CI failed: make test exit $$main, make test-deploy exit $$dep"; exit 1; fi

lint: setup
	$(PY) -m ruff check echo_monai tests data_scripts benchmarks

clean-venv:
	rm -rf $(VENV)
