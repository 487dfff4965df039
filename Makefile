# The two set-up commands of the README. Both create .venv and install what the project needs;
# re-running them installs nothing new unless pyproject.toml or this file changed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO   ?= demo

# Prefect's embedded server must not phone home (no network here) nor touch a user's Prefect state in tests.
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo test test-fast gpu-check clean-demo

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	# tinysoundfont declares pyaudio (live playback, needs portaudio headers); we only render offline.
	$(PY) -m pip install -q --no-deps 'tinysoundfont==0.3.7'
	touch $(STAMP)

demo: install
	$(VENV)/bin/ladle demo-corpus $(DEMO)/library
	$(VENV)/bin/ladle build-corpus $(DEMO)/library --data $(DEMO)/data --preset vorbis-160 --preset paper-32k
	$(VENV)/bin/ladle catalog $(DEMO)/data

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

# On a GPU machine with torch preinstalled (see scripts/gpu_check.sh for the wheels it needs).
gpu-check:
	scripts/gpu_check.sh

clean-demo:
	rm -rf $(DEMO)
