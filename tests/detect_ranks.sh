#!/usr/bin/env bash
# `ancd detect` gives the same maps and scores on 1, 2 and 3 MPI ranks (issue 4 "Distribution":
# max abs diff <= 1e-6): a tiny synthetic category (13 test images), a random ViT-Ti at 64 px,
# blocks [1, 2], r [1, 3], divide_num 1 and 2.
#   detect_ranks.sh H5_COMPARE MPIEXEC
. "$(dirname "$0")/lib.sh"
h5cmp=${1:?usage: detect_ranks.sh H5_COMPARE MPIEXEC}
mpiexec=${2:?usage: detect_ranks.sh H5_COMPARE MPIEXEC}
export OMP_NUM_THREADS=1 # ranks share the machine's cores

"$ancd" synth -o "$tmp/data" --categories 1 --train 1 --test-good 3 --per-type 2 -q ||
  { echo "FAIL: synth" >&2; exit 1; }
cat=$(ls "$tmp/data" | head -1)
common=(-c "$src/configs/demo.yaml" --set dataset.root="$tmp/data" --set detect.image_size=64
        --set detect.layers=[1,2] --set detect.r_list=[1,3] --set detect.batch_size=2 -q)
for divide in 1 2; do
  for np in 1 2 3; do
    out="$tmp/out_d${divide}_np$np"
    "$mpiexec" -np "$np" --allow-run-as-root --oversubscribe "$ancd" detect "${common[@]}" \
      --set detect.divide_num=$divide -o "$out" >"$tmp/log" 2>&1 ||
      fail "detect divide_num=$divide on $np ranks: $(tail -5 "$tmp/log")"
    [ -f "$out/demo/$cat/maps.h5" ] || fail "no maps.h5 for divide_num=$divide on $np ranks"
  done
  for np in 2 3; do
    "$h5cmp" "$tmp/out_d${divide}_np1/demo/$cat/maps.h5" "$tmp/out_d${divide}_np$np/demo/$cat/maps.h5" \
      1e-6 maps scores scores_rscin labels masks ||
      fail "divide_num=$divide: 1 rank and $np ranks differ"
  done
done
# Subsets change the scores: the two settings must not agree (else divide_num did nothing).
"$h5cmp" "$tmp/out_d1_np1/demo/$cat/maps.h5" "$tmp/out_d2_np1/demo/$cat/maps.h5" 1e-6 maps \
  >/dev/null && fail "divide_num 2 gave the same maps as divide_num 1"

finish detect_ranks
