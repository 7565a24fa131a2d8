# Oh My Assistant — the front door.
#   make        build build/oma (release) and the web UI
#   make run    install what is missing, build, start `oma serve` on http://127.0.0.1:8080
#   make test   install what the tests need, build with ASan+UBSan, run the whole suite (ctest)
#   make bench  build and run the benchmarks in bench/
#   make fuzz   build the libFuzzer targets (clang) and run each FUZZ_SECONDS (60) on tests/fuzz
# CMake/ctest do the work underneath; this file only orders the steps.
# A build folder counts as configured only when CMake finished (the .configured stamp, written
# after a successful configure); a failed configure removes its cache, so the next `make` simply
# configures again instead of building in a half-made folder.
JOBS   ?= $(shell nproc)
HOST   ?= 127.0.0.1
PORT   ?= 8080
DATA   ?= ./data
BUILD_DIR ?= build
TEST_DIR  ?= build-test
CMAKE  ?= cmake

.PHONY: all build configure configure-test web deps deps-test run test fuzz bench clean

all: build web

deps:
	@bash scripts/install-deps.sh build

deps-test:
	@bash scripts/install-deps.sh test

# configure DIR ARGS...: run CMake; on failure drop what it cached (a compiler or library it did
# not find stays "NOTFOUND" in the cache otherwise) and fail; on success write the stamp.
define configure
	@rm -f $(1)/.configured
	$(CMAKE) -S . -B $(1) $(2) || { rm -rf $(1)/CMakeCache.txt $(1)/CMakeFiles; \
	  echo "make: configuring $(1) failed (see above); the next make starts it again" >&2; exit 1; }
	@touch $(1)/.configured
endef

$(BUILD_DIR)/.configured: CMakeLists.txt
	$(call configure,$(BUILD_DIR),-DCMAKE_BUILD_TYPE=Release -DOMA_TESTS=OFF)

configure: $(BUILD_DIR)/.configured

build: configure
	$(CMAKE) --build $(BUILD_DIR) -j $(JOBS)

web: web/dist/index.html

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

web/dist/index.html: web/node_modules/.installed $(shell find web/src web/index.html -type f 2>/dev/null)
	cd web && npm run build

tests/node_modules/.installed: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund
	touch $@

# scale-out test tools: s3rver and AWS's S3 client (tests/scale/README.md)
tests/scale/node_modules/.installed: tests/scale/package.json tests/scale/package-lock.json
	cd tests/scale && npm ci --no-audit --no-fund
	touch $@

run: deps all
	./$(BUILD_DIR)/oma serve --host $(HOST) --port $(PORT) --data $(DATA)

$(TEST_DIR)/.configured: CMakeLists.txt
	$(call configure,$(TEST_DIR),-DCMAKE_BUILD_TYPE=Debug -DOMA_SANITIZE=ON -DOMA_TESTS=ON)

configure-test: $(TEST_DIR)/.configured

# The release build first (what `make run` builds): warnings that only the optimiser finds
# (-Wmaybe-uninitialized at -O3) once broke `make run` while the Debug test build passed.
test: deps-test web tests/node_modules/.installed tests/scale/node_modules/.installed configure-test
	$(MAKE) --no-print-directory build
	bash scripts/fetch-test-data.sh
	$(CMAKE) --build $(TEST_DIR) -j $(JOBS)
	cd $(TEST_DIR) && ctest --output-on-failure -j $(JOBS)
	@if command -v clang >/dev/null; then $(MAKE) --no-print-directory fuzz FUZZ_SECONDS=5; \
	  else echo "make: clang not found: the fuzz targets were not run (apt-get install clang)"; fi

# Fuzzing with clang's libFuzzer: FUZZ_SECONDS per target (make test runs 5 s each).
FUZZ_DIR     ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
$(FUZZ_DIR)/.configured: CMakeLists.txt
	$(call configure,$(FUZZ_DIR),-DCMAKE_BUILD_TYPE=Debug -DOMA_FUZZ=ON -DOMA_CUDA=OFF -DCMAKE_C_COMPILER=clang "-DCMAKE_C_FLAGS=$(FUZZ_CFLAGS)")

fuzz: $(FUZZ_DIR)/.configured
	bash tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

bench: deps-test
	bash bench/run.sh

clean:
	rm -rf $(BUILD_DIR) $(TEST_DIR) $(FUZZ_DIR) build-bench web/dist
