# gearshift: the two README commands (make demo, make test) and developer helpers.
# Everything Python lives in a project virtual environment ($(VENV)).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
CMAKE  := $(VENV)/bin/cmake
CTEST  := $(VENV)/bin/ctest
BUILD  ?= build
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: all demo test test-cpp test-tsan test-asan fuzz test-python test-arm test-arm-python install dev deps sysdeps lint fmt bench tfmot-env aeq-env icount clean

all: test

# ---- set-up -------------------------------------------------------------------
$(VENV)/.stamp-venv:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	touch $@

# Build tools and the project's Python dependencies (tensorflow for the
# converters, the reference interpreter and test tools), once per pyproject change.
$(VENV)/.stamp-deps: pyproject.toml $(VENV)/.stamp-venv
	$(PIP) install -q setuptools wheel "pybind11>=2.10" "cmake>=3.18" ninja
	$(PIP) install -q "numpy>=1.22" "tensorflow>=2.16" pytest scikit-learn ruff mlxtend \
		pillow scikit-image "ai-edge-litert; python_version >= '3.10'" jsonschema matplotlib paramiko \
		auditwheel ray
	# Real, third-party .tflite vision models for the importer's tests: MediaPipe ships
	# them inside its wheel. --no-deps: only the model files are used, never the package.
	$(PIP) install -q --no-deps "mediapipe==0.10.14" || \
		echo "note: mediapipe not installable here; the real-model tests will skip"
	touch $@

sysdeps:
	@bash scripts/install_system_deps.sh

deps: sysdeps $(VENV)/.stamp-deps

# A regular (non-editable) install, as a user gets it.
install: deps
	$(PIP) install -q --no-build-isolation --no-deps .

# Editable install for development: Python edits apply at once; rerun after C++ edits.
dev: deps
	$(PIP) install -q --no-build-isolation --no-deps -e .

# ---- the main job -----------------------------------------------------------------
demo: install
	$(PY) examples/digits_demo.py

# ---- tests ----------------------------------------------------------------------
test: test-cpp test-python test-arm test-arm-python

test-cpp: deps
	$(CMAKE) -S . -B $(BUILD) -G Ninja -DCMAKE_MAKE_PROGRAM=$(abspath $(VENV))/bin/ninja \
		-DGEARSHIFT_BUILD_TESTS=ON -DGEARSHIFT_BUILD_TOOLS=ON >/dev/null
	$(CMAKE) --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && $(abspath $(CTEST)) --output-on-failure -j $(JOBS)

# The runtime's thread-safety (gear switches during runs, concurrent runs)
# under ThreadSanitizer, in its own build tree. Not part of test-cpp: the
# instrumented build takes ~6 minutes on 2 cores.
test-tsan: deps
	$(CMAKE) -S . -B build-tsan -G Ninja -DCMAKE_MAKE_PROGRAM=$(abspath $(VENV))/bin/ninja \
		-DGEARSHIFT_BUILD_TESTS=ON -DGEARSHIFT_BUILD_TOOLS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_CXX_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
	$(CMAKE) --build build-tsan -j $(JOBS) --target gearshift_tests
	TSAN_OPTIONS=halt_on_error=1 build-tsan/gearshift_tests --gtest_filter='Runtime*:Prepare*:ThreadPool*'

# The C++ tests and the runtime's Python tests against an ASan+UBSan build
# (gcc, -O1) of the runtime and the extension, in build-asan/; see
# scripts/test_asan.sh (ASAN_PYTEST=tests/python runs every Python test).
test-asan: deps
	PY=$(PY) CMAKE=$(CMAKE) JOBS=$(JOBS) bash scripts/test_asan.sh

# Fuzzing (fuzz/): libFuzzer harnesses for the .gear loader and for
# load-then-run on every gear (clang, ASan+UBSan), and an atheris target for
# the TFLite importer; each runs FUZZ_SECONDS on one core and a crash fails
# the target (fuzz/run.sh says where the input is). Not part of `make test`.
# `install` first: the atheris target fuzzes the installed converters.
FUZZ_SECONDS ?= 60
fuzz: install
	@bash scripts/install_system_deps.sh --fuzz
	@$(PY) -c "import atheris" 2>/dev/null || $(PIP) install -q atheris || \
		echo "note: atheris not installable here; the TFLite importer target will skip"
	FUZZ_SECONDS=$(FUZZ_SECONDS) PY=$(PY) CMAKE=$(CMAKE) JOBS=$(JOBS) bash fuzz/run.sh

# pytest exits 5 when it collects no test; that is a failure of the suite
# layout, not a pass, so it is reported as such.
test-python: install
	$(PY) -m pytest -q -p no:cacheprovider tests/python; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$rc

# Cross-compiled C++ tests for ARM boards (rpi4, rpi5, rpi3 profiles) run under
# qemu-user; installs the cross compilers and qemu if missing.
test-arm: install
	PY=$(PY) CMAKE=$(CMAKE) bash scripts/test_arm.sh

# The Python package's tests in an emulated aarch64 Python: Debian's arm64
# python3.11 + numpy 1.24 (apt-get download, cached in build-arm/) with the rpi4
# wheel from `gearshift build`, under qemu-aarch64 -cpu cortex-a72.
test-arm-python: install
	PY=$(PY) JOBS=$(JOBS) bash scripts/test_arm_python.sh

# ---- helpers -------------------------------------------------------------------
lint: deps
	bash scripts/lint.sh

fmt: deps
	bash scripts/format.sh

bench: install
	$(PY) benchmarks/bench_vs_litert.py
	$(PY) benchmarks/bench_gears.py
	$(PY) benchmarks/bench_compare.py --json out/bench-compare.json --html out/bench-compare.html

# TensorFlow Model Optimization Toolkit (Keras 2) for bench_train.py's comparison, in
# build-tfmot/site-packages (--no-deps: the venv's TensorFlow and absl-py stay as they
# are). Optional: make test never needs it.
tfmot-env: deps
	VENV=$(VENV) bash scripts/tfmot_env.sh

# Google's AI Edge Quantizer for bench_accuracy.py's comparison (method "aeq"), in
# build-aeq/site-packages (--no-deps: the venv's LiteRT stays as it is). Optional.
aeq-env: deps
	VENV=$(VENV) bash scripts/aeq_env.sh

# Instructions per inference on emulated ARM (Cortex-A72 = Raspberry Pi 4,
# Cortex-A76 = Pi 5): gearshift fp32 and int8 against LiteRT fp32 and int8 on
# MobileNetV2 1.0/224, batch 1, 1 thread. ICOUNT is an external
# instruction-counting tool (arm-icount's icount.sh: qemu-user with a counting
# TCG plugin), not part of this repository; without it the target says so and
# does nothing (make icount ICOUNT=/path/to/icount.sh). It counts this checkout (uncommitted edits included; the tool
# builds its own aarch64 wheels), makes the models once into $(ICOUNT_OUT)/mnv2
# (after `make install`; delete the folder to remake them) and writes one JSON
# per CPU to $(ICOUNT_OUT)/icount-<cpu>.json. Not part of `make test`.
ICOUNT      ?=
ICOUNT_OUT  ?= build-icount
ICOUNT_CPUS ?= cortex-a72 cortex-a76

icount:
	@if [ -z "$(ICOUNT)" ] || [ ! -f "$(ICOUNT)" ]; then \
		echo "icount: the instruction-counting tool is not available ('$(ICOUNT)' not found;"; \
		echo "        run make icount ICOUNT=/path/to/icount.sh). Nothing counted."; \
		exit 0; \
	fi; \
	set -e; \
	bash "$(ICOUNT)" setup --source "$(CURDIR)" --cpu "$$(echo $(ICOUNT_CPUS) | tr ' ' ,)"; \
	m=$(ICOUNT_OUT)/mnv2; \
	if [ ! -f $$m/models.json ]; then \
		$(MAKE) --no-print-directory install; \
		bash "$(ICOUNT)" make-models $$m --python $(PY); \
	fi; \
	for cpu in $(ICOUNT_CPUS); do \
		bash "$(ICOUNT)" compare $$m/mnv2.gear fp32=$$m/mnv2.tflite int8=$$m/mnv2_int8.tflite \
			--input $$m/x.npy --cpu $$cpu --source "$(CURDIR)" \
			--json $(ICOUNT_OUT)/icount-$$cpu.json; \
	done

clean:
	rm -rf $(BUILD) build-* dist *.egg-info
