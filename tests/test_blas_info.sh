#!/usr/bin/env bash
# `ancd info` names the OpenBLAS kernel set in use and how it was chosen (issue 8), warns only
# when it is generic on a CPU with AVX2, and says plainly when no GPU is there.
. "$(dirname "$0")/lib.sh"

expect 0 "$ancd" info
contains "$tmp/out" "^blas:      core type [A-Za-z0-9_]*, "
grep -q "^blas:.*\(autodetected by OpenBLAS\|chosen by ancd from CPUID\|set by OPENBLAS_CORETYPE\|built in\)" \
  "$tmp/out" || fail "the blas line says not how the core type was chosen: $(grep '^blas' "$tmp/out")"
lacks "$tmp/out" "failed"
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && [ -z "${OPENBLAS_CORETYPE+set}" ]; then
  lacks "$tmp/err" "generic"
  lacks "$tmp/out" "CPU: no AVX2"
fi
# No GPU: no raw CUDA error, the CPU backend named instead.
lacks "$tmp/out" "driver version is insufficient"
if ! grep -q "^cuda:.*(sm_" "$tmp/out"; then
  contains "$tmp/out" "^cuda:      .*the CPU backend is used"
fi
finish test_blas_info
