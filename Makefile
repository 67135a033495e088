# deid-node: the two commands a newcomer needs are `make serve` and `make test`.
# Both install everything on a fresh Debian machine first (idempotent).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install install-system serve test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Debian packages for the real peers (dcmtk, Orthanc) and tools the tests use.
install-system:
	@missing=$$(grep -v '^\s*#' .ci/apt-packages.txt | grep -v '^\s*$$' | while read p; do \
	  dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

serve: install
	$(BIN)/deid-node serve

test: install install-system
	TCP_NODELAY=1 $(BIN)/python -m pytest -q

# The benchmarks behind docs/benchmarks.md (minutes; run on an otherwise idle machine).
bench: install install-system
	$(BIN)/python benchmarks/throughput.py --n 500
	$(BIN)/python benchmarks/tag_path.py --runs 500 --analyzer phi
	$(BIN)/python benchmarks/phi_speed.py
	$(BIN)/python benchmarks/pixel_speed.py

clean:
	rm -rf $(VENV) var build *.egg-info
