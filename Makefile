# The two commands a newcomer needs. Everything else is CMake presets (see README).
.PHONY: run test deps build release bench format clean

deps:
	scripts/install-deps.sh

run: deps
	scripts/run-demo.sh

test: deps
	scripts/run-tests.sh

build: deps
	cmake --preset debug >/dev/null && cmake --build --preset debug

release: deps
	cmake --preset release >/dev/null && cmake --build --preset release

bench: release
	bench/peers/compare-influxdb.sh

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf build
