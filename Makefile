# The two set-up commands of the README. Both create .venv and install what the project needs;
# re-running them installs nothing new unless pyproject.toml or this file changed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO   ?= demo

# Prefect's embedded server must not phone home (no network here) nor touch a user's Prefect state in tests.
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install lint demo test test-fast gpu-check clean-demo

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	# tinysoundfont declares pyaudio (live playback, needs portaudio headers); we only render offline.
	$(PY) -m pip install -q --no-deps 'tinysoundfont==0.3.7'
	touch $(STAMP)

# The whole job on the embedded defaults: render the demo corpus, build its shards, train a small
# model briefly on CPU, evaluate it against the untouched lossy input, restore one lossy file.
# Every step is cached or resumed, so a second `make demo` only re-evaluates. It trains the default
# recipe (specnext) for 800 steps; its fill gain is then calibrated on the val track (docs/training.md).
# The demo corpus pins its splits (LADLE_SPLIT tags): eight tracks train, one is the val track, and the
# test track the evaluation scores (Maple Leaf Rag) is never trained or calibrated on.
demo: install
	$(VENV)/bin/ladle demo-corpus $(DEMO)/library
	$(VENV)/bin/ladle build-corpus $(DEMO)/library --data $(DEMO)/data --preset vorbis-160 --preset paper-32k
	$(VENV)/bin/ladle catalog --data $(DEMO)/data
	$(VENV)/bin/ladle train --data $(DEMO)/data --run $(DEMO)/runs/specnext --preset paper-32k --max-steps 800
	$(VENV)/bin/ladle evaluate --run $(DEMO)/runs/specnext --data $(DEMO)/data --preset paper-32k
	$(VENV)/bin/ladle enhance "$$(ls $(DEMO)/data/encodes/paper-32k/*.ogg | head -n 1)" -o $(DEMO)/restored.flac \
		--run $(DEMO)/runs/specnext

test: install lint
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test-fast: install
	$(PY) -m pytest -q -m "not slow"

# On a GPU machine with torch preinstalled: builds the corpus carried in gpu-kit/, trains the default recipe,
# times enhancement and finds the largest batch (scripts/gpu_check.sh says how to make gpu-kit/ and .whl/).
gpu-check:
	scripts/gpu_check.sh

clean-demo:
	rm -rf $(DEMO)
