# voxsep: `make test` and `make demo` work on a fresh machine with only this repo.
# Every pip call goes through constraints.txt so torch stays the local CPU wheel.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Debian packages: real and synthetic speech for the offline corpus (docs/architecture.md §4),
# the KEMAR HRIRs for binaural mixing, and sox. asterisk-prompt-es-co and
# asterisk-prompt-fr-armelle conflict with asterisk-core-sounds-es/-fr, which only make
# the sounds/es and sounds/fr symlinks: use the es_MX_f_Allison and fr_CA_f_June folders.
APT_PACKAGES := asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav \
	asterisk-core-sounds-fr-wav asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav \
	asterisk-prompt-it-menardi-wav asterisk-core-sounds-en-g722 \
	asterisk-prompt-es-co asterisk-prompt-fr-armelle \
	fillets-ng-data fillets-ng-data-cs fillets-ng-data-nl klettres-data ktuberling-data \
	tuxpaint-stamps-default drascula drascula-spanish flight-of-the-amazon-queen kajongg \
	lincity-ng-data colobot-common-sounds \
	espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts \
	libmysofa1 sox libsndfile1 \
	chromium chromium-driver

.PHONY: setup apt test test-fast demo bench clean

setup: $(VENV)/.installed apt

$(VENV)/.installed: pyproject.toml constraints.txt
	@echo "== creating $(VENV) and installing torch==2.13.0 (CPU) + voxsep[dev]"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

apt:
	@if dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
		echo "== Debian packages for the offline corpus: present"; \
	else \
		echo "== installing Debian packages: $(APT_PACKAGES)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); \
	fi

test: setup
	@echo "== running the test suite"
	$(PY) -m pytest -x tests

# Unit tests only (tests/unit, without the tests marked slow): a quick check before `make test`.
test-fast: setup
	@echo "== running the unit tests (not slow)"
	$(PY) -m pytest -x -m "not slow" tests/unit

# Separate the bundled example mixture with the bundled model; prints output paths and SI-SNRi.
demo: setup
	@echo "== separating the bundled example mixture (src/voxsep/pretrained/example_mix.wav)"
	$(PY) -m voxsep.pretrained.demo --out demo_out --force

# The benchmarks take minutes to hours each and some need reference packages: they are run
# one by one. BENCHMARKS.md lists every script and gives each number's command.
bench:
	@echo "benchmarks are run one at a time: BENCHMARKS.md lists each script (benchmarks/*.py) and the command of each number"

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
