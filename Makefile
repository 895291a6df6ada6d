# Two entry points: `make demo` and `make test`. Both create .venv if missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tpr_mm_installed
DEMO_DIR ?= work_dirs/demo
DEMO_CFG ?= configs/clip_sdm_synthetic.py
# pytest-xdist workers for `make test`: one per core, at most 4 (each holds torch in memory);
# 0 runs everything in this process.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)

.PHONY: install demo test lint browser clean-demo

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) setup.py requirements/runtime.txt requirements/tests.txt
	$(PY) -m pip install --quiet --upgrade pip 'setuptools<82' wheel
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[tests]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The search page is tested in headless Chromium (Debian's package); installed when possible.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		>/dev/null) ; } || echo 'chromium not installed: the browser test will be skipped'

test: install lint browser
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --durations=15

# A second `make demo` resumes the finished run (a new run would be refused: it would
# overwrite the first run's checkpoints); `make clean-demo` starts over.
demo: install
	$(PY) tools/train.py $(DEMO_CFG) --work-dir $(DEMO_DIR) \
		$$([ -f $(DEMO_DIR)/last_checkpoint ] && echo --resume)
	$(PY) tools/test.py $(DEMO_CFG) $$(ls -t $(DEMO_DIR)/best_*.pth | head -n 1) \
		--work-dir $(DEMO_DIR) --out $(DEMO_DIR)/rankings.json
	$(PY) tools/analysis/visualize_retrieval.py $(DEMO_DIR)/rankings.json \
		--out $(DEMO_DIR)/retrievals.png --num-queries 4

clean-demo:
	rm -rf $(DEMO_DIR)
