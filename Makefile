# Oh My Assistant — the front door.
#   make        build build/oma (release) and the web UI
#   make run    install what is missing, build, start `oma serve` on http://127.0.0.1:8080
#   make test   install what the tests need, build with ASan+UBSan, run the whole suite (ctest)
#   make bench  build and run the benchmarks in bench/
# CMake/ctest do the work underneath; this file only orders the steps.
JOBS   ?= $(shell nproc)
HOST   ?= 127.0.0.1
PORT   ?= 8080
DATA   ?= ./data

.PHONY: all build web deps deps-test run test bench clean

all: build web

deps:
	@bash scripts/install-deps.sh build

deps-test:
	@bash scripts/install-deps.sh test

build/CMakeCache.txt:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release

build: build/CMakeCache.txt
	cmake --build build -j $(JOBS)

web: web/dist/index.html

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

web/dist/index.html: web/node_modules/.installed $(shell find web/src web/index.html -type f 2>/dev/null)
	cd web && npm run build

tests/node_modules/.installed: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund
	touch $@

run: deps all
	./build/oma serve --host $(HOST) --port $(PORT) --data $(DATA)

build-test/CMakeCache.txt:
	cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DOMA_SANITIZE=ON

test: deps-test web tests/node_modules/.installed build-test/CMakeCache.txt
	bash scripts/fetch-test-data.sh
	cmake --build build-test -j $(JOBS)
	cd build-test && ctest --output-on-failure -j $(JOBS)

bench: build/CMakeCache.txt
	bash bench/run.sh

clean:
	rm -rf build build-test web/dist
