# Two commands do all the set-up (see README.md):
#   make run    executes the PyTorch image-classification notebook on local Spark
#   make test   unit tests + every notebook with small CI parameters, each in its environment
# Both create or refresh the environments they need; nothing is reinstalled when the
# requirement files have not changed.

PYTHON ?= python3
ENVS   := .envs
OUT    ?= output
PYTEST_ARGS ?=

TORCH_STAMP := $(ENVS)/torch/.installed
TF_STAMP    := $(ENVS)/tf/.installed

.PHONY: help envs env-torch env-tf run test test-unit test-tf stress test-tmp-checkout docs lint lab wheel clean

help:
	@echo "make run      - run notebooks/pytorch/image_classification_torch.ipynb on local Spark (outputs in $(OUT)/run)"
	@echo "make test     - unit tests and all notebooks with CI parameters (outputs in $(OUT)/test)"
	@echo "make stress   - server start/stop stress on three executors of one host (~8 min)"
	@echo "make docs     - executed copies of the notebooks under docs/notebooks (NOTEBOOKS=... for some)"
	@echo "make lab      - JupyterLab with both kernels (dl-torch, dl-tf)"
	@echo "make envs     - create/refresh $(ENVS)/torch and $(ENVS)/tf"
	@echo "make lint     - ruff (lint and format check) on the package, tests and notebooks"
	@echo "make wheel    - build dist/dl_helpers-*.whl for clusters"
	@echo "make test-tmp-checkout - the cluster fixture from a copy of this checkout under /tmp"

envs: env-torch env-tf
env-torch: $(TORCH_STAMP)
env-tf: $(TF_STAMP)

$(TORCH_STAMP): requirements-torch.txt requirements-dev.txt pyproject.toml ci/make_env.sh
	PYTHON=$(PYTHON) bash ci/make_env.sh torch requirements-torch.txt

$(TF_STAMP): requirements-tf.txt requirements-dev.txt pyproject.toml ci/make_env.sh
	PYTHON=$(PYTHON) bash ci/make_env.sh tf requirements-tf.txt

run: $(TORCH_STAMP)
	$(ENVS)/torch/bin/python ci/run_notebook.py notebooks/pytorch/image_classification_torch.ipynb \
		--output-dir $(OUT)/run

# Everything: the suite in the torch environment (notebook tests run each notebook in its own),
# then the TensorFlow-only unit tests, which need the tf environment (see test-tf).
test: $(TORCH_STAMP) $(TF_STAMP)
	$(ENVS)/torch/bin/python -m pytest tests $(PYTEST_ARGS)
	$(ENVS)/tf/bin/python -m pytest tests/unit/models/test_tf_models.py $(PYTEST_ARGS)

# The TensorFlow-only unit tests (the TF notebooks' stand-ins, which the notebook tests also run
# end to end): in the tf environment.
test-tf: $(TF_STAMP)
	$(ENVS)/tf/bin/python -m pytest tests/unit/models/test_tf_models.py $(PYTEST_ARGS)

# The cluster fixture started from a copy of this checkout under /tmp (about a minute; not in CI).
test-tmp-checkout: $(TORCH_STAMP)
	DL_TEST_TMP_CHECKOUT=1 $(ENVS)/torch/bin/python -m pytest \
		tests/cluster/test_cluster.py::test_cluster_from_a_checkout_under_tmp $(PYTEST_ARGS)

test-unit: $(TORCH_STAMP)
	$(ENVS)/torch/bin/python -m pytest tests -m "not notebook" $(PYTEST_ARGS)

# Start/stop cycles of every server kind on a three-executor local-cluster beside a second
# application's servers (tests/unit/servers/test_server_stress.py); skipped by `make test`. DL_STRESS_CYCLES
# sets the cycles per kind (default 10).
stress: $(TORCH_STAMP)
	DL_STRESS=1 $(ENVS)/torch/bin/python -m pytest tests/unit/servers/test_server_stress.py -s $(PYTEST_ARGS)

# Executed copies for readers under docs/notebooks/ (outputs and figures), each notebook on local
# Spark with its test's DOCS_PARAMS; tests/project/test_docs_notebooks.py keeps them equal to the
# sources. NOTEBOOKS="notebooks/a.ipynb ..." rebuilds only those (about 20 min for all).
NOTEBOOKS ?=
docs: $(TORCH_STAMP) $(TF_STAMP)
	$(ENVS)/torch/bin/python ci/build_docs.py $(NOTEBOOKS)

lint: $(TORCH_STAMP)
	$(ENVS)/torch/bin/ruff check dl_helpers tests ci benchmark notebooks
	$(ENVS)/torch/bin/ruff format --check dl_helpers tests ci benchmark notebooks

# JupyterLab (pinned in requirements-dev.txt) from the torch environment, offering both kernels.
# Loopback only; as root (containers, cloud VMs) it needs --allow-root. LAB_ARGS: extra options.
LAB_PORT ?= 8888
LAB_ARGS ?=
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
lab: $(TORCH_STAMP) $(TF_STAMP)
	JUPYTER_PATH=$(CURDIR)/$(ENVS)/torch/share/jupyter:$(CURDIR)/$(ENVS)/tf/share/jupyter \
		$(ENVS)/torch/bin/jupyter lab --ip 127.0.0.1 --port $(LAB_PORT) $(LAB_ROOT) \
		$(LAB_ARGS) notebooks

wheel: $(TORCH_STAMP)
	$(ENVS)/torch/bin/python -m build --wheel --outdir dist .

clean:
	rm -rf $(OUT) build dist *.egg-info
