# The two commands of the README:
#   make demo   set up (if needed) and run the main job: Ray Data reading through epochcache
#   make test   set up (if needed) and run every test
SHELL := /bin/bash
PY := .venv/bin/python
# Servers built by scripts/install_test_servers.sh (MinIO, toxiproxy).
export EPOCHCACHE_TOOLS := $(CURDIR)/tools/bin
JOBS ?= 2
CMAKE_FLAGS := -G Ninja -DEPOCHCACHE_BUILD_TESTS=ON -DEPOCHCACHE_WERROR=ON

.PHONY: wheel wheel-check bench-quick setup demo test test-cpp test-cpp-asan test-cpp-tsan test-python lint tidy fuzz format clean

setup:
	@scripts/setup.sh

demo: setup
	PYTHONPATH=$(CURDIR)/devtools $(PY) -m epochcache_dev.demo

# Cheapest and most telling first: lint, then the unit tests under ASan/UBSan (which also
# configures build/asan for tidy), TSan, clang-tidy, fuzzing, the Python and integration tests
# against real servers, and last the benchmark smoke run.
test: setup lint test-cpp-asan test-cpp-tsan tidy fuzz test-python bench-quick
	@echo "all test suites passed"

# Unit tests, built with AddressSanitizer and UndefinedBehaviorSanitizer.
test-cpp-asan:
	cmake -S . -B build/asan $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Debug -DEPOCHCACHE_SANITIZE=address,undefined >/dev/null
	cmake --build build/asan -j $(JOBS)
	cd build/asan && ctest --output-on-failure -j $(JOBS)

# Every unit test again, built with ThreadSanitizer. tests/tsan.supp names the one
# third-party report (inside the uninstrumented libspdlog) that is not ours to fix.
test-cpp-tsan:
	cmake -S . -B build/tsan $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Debug -DEPOCHCACHE_SANITIZE=thread >/dev/null
	cmake --build build/tsan -j $(JOBS)
	cd build/tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  ctest --output-on-failure -j $(JOBS)

# Unit tests without sanitizers (faster, for development).
test-cpp:
	cmake -S . -B build/release $(CMAKE_FLAGS) >/dev/null
	cmake --build build/release -j $(JOBS)
	cd build/release && ctest --output-on-failure -j $(JOBS)

test-python:
	$(PY) -m pytest tests/ -q --timeout=600

# The benchmark on tiny data, so it keeps working (no assertions on speed).
bench-quick:
	$(PY) bench/epochs.py --quick --no-progress

lint:
	@scripts/lint.sh

tidy:
	@scripts/tidy.sh build/asan

# Each libFuzzer target (tests/fuzz) for FUZZ_SECONDS (default 15) seconds, in build/fuzz.
fuzz:
	@scripts/fuzz.sh

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

# A self-contained manylinux wheel in dist/ (auditwheel-repaired; docs/install.md). Not part of
# `make test`: a full Release build.
wheel:
	@scripts/build_wheel.sh

# Installs dist/'s wheel offline into a fresh venv and checks it (builds nothing).
wheel-check:
	@scripts/check_wheel.sh

clean:
	rm -rf build .cache
