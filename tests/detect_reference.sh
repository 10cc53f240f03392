#!/usr/bin/env bash
# detect.reference: train (issue 13): the normal train images join the scoring pool. Each rule
# gives the same maps on 1, 2 and 3 MPI ranks (tolerance 0), differs from zero-shot, never scores
# the references (maps.h5 holds the test images only), and a category without normal train
# images is an error naming it.
#   detect_reference.sh H5_COMPARE MPIEXEC
. "$(dirname "$0")/lib.sh"
h5cmp=${1:?usage: detect_reference.sh H5_COMPARE MPIEXEC}
mpiexec=${2:?usage: detect_reference.sh H5_COMPARE MPIEXEC}
export OMP_NUM_THREADS=1 # ranks share the machine's cores

"$ancd" synth -o "$tmp/data" --categories 1 --train 5 --test-good 3 --per-type 2 -q 2>/dev/null ||
  { echo "FAIL: synth" >&2; exit 1; }
cat=$(ls "$tmp/data" | head -1)
common=(-c "$src/configs/demo.yaml" --set dataset.root="$tmp/data" --set detect.image_size=64
        --set detect.layers=[1,2] --set detect.r_list=[1,3] --set detect.batch_size=2)
run() { # OUT NP SETTINGS...
  local out=$1 np=$2
  shift 2
  "$mpiexec" -np "$np" --allow-run-as-root --oversubscribe "$ancd" detect "${common[@]}" "$@" \
    -o "$out" >"$out.log" 2>&1 || fail "detect $* on $np ranks: $(tail -5 "$out.log")"
}
run "$tmp/zero" 1
for rule in nearest pool mean; do
  for np in 1 2 3; do
    run "$tmp/${rule}_np$np" "$np" --set detect.reference=train --set detect.reference_score=$rule
  done
  contains "$tmp/${rule}_np1.log" "13 test images and 5 normal references ($rule)"
  for np in 2 3; do
    "$h5cmp" "$tmp/${rule}_np1/demo/$cat/maps.h5" "$tmp/${rule}_np$np/demo/$cat/maps.h5" 0 maps \
      scores scores_rscin >/dev/null || fail "$rule: 1 rank and $np ranks differ"
  done
  "$h5cmp" "$tmp/zero/demo/$cat/maps.h5" "$tmp/${rule}_np1/demo/$cat/maps.h5" 1e-6 maps >/dev/null &&
    fail "$rule: the same maps as zero-shot"
  # maps.h5 holds the 13 test images, not the references: same shapes as zero-shot's.
  "$h5cmp" "$tmp/zero/demo/$cat/maps.h5" "$tmp/${rule}_np1/demo/$cat/maps.h5" 1e-6 labels \
    >/dev/null || fail "$rule: maps.h5's labels differ from zero-shot's (references scored?)"
done
# The rules differ from each other.
"$h5cmp" "$tmp/nearest_np1/demo/$cat/maps.h5" "$tmp/pool_np1/demo/$cat/maps.h5" 1e-6 maps \
  >/dev/null && fail "nearest and pool gave the same maps"

# No normal train images: an error naming the category.
rm -rf "$tmp/data/$cat/train"
"$mpiexec" -np 1 --allow-run-as-root --oversubscribe "$ancd" detect "${common[@]}" \
  --set detect.reference=train -o "$tmp/none" >"$tmp/none.log" 2>&1 &&
  fail "detect.reference: train without train images succeeded"
contains "$tmp/none.log" "category $cat: detect.reference: train, but the category has no normal training images"

finish detect_reference
