# The two commands of the README: `make demo` and `make test`. Both install missing Debian
# packages, configure CMake, build, then run. Everything else is plain CMake/ctest.
BUILD      ?= build
ASAN_BUILD ?= build-asan
DEMO_DIR   ?= demo_data
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

PACKAGES := build-essential cmake pkg-config libopenmpi-dev openmpi-bin libhdf5-openmpi-dev \
            libyaml-dev libjansson-dev libopenblas-dev libpng-dev libjpeg-dev
# slurmctld, slurmd, srun (slurm-wlm) and munge; libpmix-dev for srun --mpi=pmix.
SLURM_PACKAGES := slurmctld slurmd slurm-client munge libpmix-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Open MPI refuses to run as root unless told; CI and containers run as root.
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1

.PHONY: all deps deps-slurm build asan test test-fast test-slurm demo format clean

all: build

deps:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

$(ASAN_BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DANCD_SANITIZE=ON -DANCD_CUDA=OFF $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Every test of the release build (the local-Slurm ones after the rest, one at a time: each
# starts its own Slurm), then the unit and golden tests again under ASan + UBSan.
test: build asan deps-slurm
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slurm
	cd $(BUILD) && ctest --output-on-failure -L slurm; rc=$$?; \
	  grep -h ": skipped: " Testing/Temporary/LastTest.log 2>/dev/null; exit $$rc
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L 'unit|golden'

# slurm/*.sbatch against a throw-away local Slurm.
test-slurm: build deps-slurm
	cd $(BUILD) && ctest --output-on-failure -L slurm; rc=$$?; \
	  grep -h ": skipped: " Testing/Temporary/LastTest.log 2>/dev/null; exit $$rc

# Debian's Slurm and munge for the local-Slurm tests. A failed install is not fatal: those
# tests then report themselves skipped with the reason.
deps-slurm:
	@missing=""; for p in $(SLURM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  { $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; } || \
	  echo "warning: could not install$$missing; the Slurm tests will be skipped"; \
	fi

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L 'unit|golden'

demo: build
	./$(BUILD)/ancd synth -o $(DEMO_DIR)
	./$(BUILD)/ancd info -c configs/demo.yaml --set dataset.root=$(DEMO_DIR)
	./$(BUILD)/ancd run -c configs/demo.yaml --set dataset.root=$(DEMO_DIR) -o out
	@echo "tables: out/demo/tables.md; pictures: out/demo/report.md"

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cu')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
