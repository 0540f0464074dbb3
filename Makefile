# SPDX-License-Identifier: GPL-2.0
#
# Syslets for Linux, in Rust. The two commands that matter:
#
#   make run    build everything, boot the guest, run the demo
#   make test   host tests + the in-guest suite on the debug and realtime kernels
#
# Both install what they need first (scripts/bootstrap.sh) and keep the
# kernel source and builds in $(SYSLET_CACHE), outside the repository.
# Kbuild reads the file named Kbuild; this Makefile is only for people.

FLAVOUR ?= debug
export SYSLET_CACHE ?= $(HOME)/.cache/syslet

.PHONY: help bootstrap kernel module guest run test bench shell clean distclean soak

help:
	@echo "make run        build everything and run the demo in QEMU"
	@echo "make test       host tests and the in-guest test suite (debug and realtime kernels)"
	@echo "make soak       the fuzzer, kill storm and load run for an hour or so"
	@echo "make bench      benchmarks on the release kernel; writes docs/bench/"
	@echo "make shell      interactive guest with the module loaded"
	@echo "make kernel     build the patched kernel  (FLAVOUR=debug|rt|release|rt-release)"
	@echo "make module     build syslet.ko against it"
	@echo "make guest      build the test programs and the initramfs"
	@echo "make clean      remove out/ and target/ (keeps the kernel cache)"
	@echo "make distclean  also remove the kernel cache ($(SYSLET_CACHE))"

bootstrap:
	@scripts/bootstrap.sh

kernel: bootstrap
	@scripts/build-kernel.sh $(FLAVOUR)

module: bootstrap
	@scripts/build-module.sh $(FLAVOUR)

guest: bootstrap
	@scripts/build-guest.sh $(FLAVOUR)

run: bootstrap
	@scripts/run-guest.sh demo $(FLAVOUR)

# Benchmarks run on the release kernel unless FLAVOUR is given. BASE=REV also
# measures the module as it was at git revision REV, in the same boot.
bench:
	@scripts/bootstrap.sh --bench
	@SYSLET_BENCH_BASE=$(BASE) scripts/run-guest.sh bench $(if $(filter command line,$(origin FLAVOUR)),$(FLAVOUR),release)

shell: bootstrap
	@scripts/run-guest.sh shell $(FLAVOUR)

# The guest suite runs on the debug and the realtime kernel unless FLAVOUR
# is given.
test:
	@SYSLET_TEST_FLAVOUR="$(if $(filter command line,$(origin FLAVOUR)),$(FLAVOUR),debug rt)" scripts/test.sh

# The hardening programs for an hour or so instead of minutes.
soak: bootstrap
	@SYSLET_TESTS='c-[fls]*' SYSLET_FUZZ_ITERS=2000000 SYSLET_STORM_KILLS=5000 \
		SYSLET_LOAD_SECONDS=300 TAP_TIMEOUT=7000 SYSLET_TIMEOUT=7200 \
		SYSLET_TEST_FLAVOUR=$(FLAVOUR) scripts/test.sh

clean:
	rm -rf out target

distclean: clean
	rm -rf $(SYSLET_CACHE)
