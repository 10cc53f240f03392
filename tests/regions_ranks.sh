#!/usr/bin/env bash
# `ancd regions` writes the same regions.h5 on 1, 2 and 3 MPI ranks (issue 5 "Distributed"): one
# maps.h5 (random ViT-Ti at 128 px, blocks 1-2, on a 13-image synthetic category, so 3 ranks get
# uneven shards), then regions.h5 on each rank count into the same output folder (the config,
# hence its hash, is the same): every numeric dataset equal (h5_compare, tolerance 0) and the
# regions_check dumps (paths, types, attributes, boxes, pixel sums) identical.
#   regions_ranks.sh REGIONS_CHECK H5_COMPARE MPIEXEC
. "$(dirname "$0")/lib.sh"
check=${1:?usage: regions_ranks.sh REGIONS_CHECK H5_COMPARE MPIEXEC}
h5cmp=${2:?usage: regions_ranks.sh REGIONS_CHECK H5_COMPARE MPIEXEC}
mpiexec=${3:?usage: regions_ranks.sh REGIONS_CHECK H5_COMPARE MPIEXEC}
export OMP_NUM_THREADS=1 # ranks share the machine's cores

"$ancd" synth -o "$tmp/data" --categories 1 --train 1 --test-good 3 --per-type 2 -q 2>/dev/null ||
  { echo "FAIL: synth" >&2; exit 1; }
cat=$(ls "$tmp/data")
common=(-c "$src/configs/demo.yaml" --set dataset.root="$tmp/data" --set detect.image_size=128
        --set detect.layers=[1,2] --set detect.r_list=[1,3] -o "$tmp/out" -q)
"$ancd" detect "${common[@]}" >"$tmp/log" 2>&1 || { echo "FAIL: detect: $(tail -5 "$tmp/log")" >&2; exit 1; }
h5=$tmp/out/demo/$cat/regions.h5
for np in 1 2 3; do
  rm -f "$h5"
  "$mpiexec" -np "$np" --allow-run-as-root --oversubscribe "$ancd" regions "${common[@]}" \
    >"$tmp/log" 2>&1 || fail "regions on $np ranks: $(tail -5 "$tmp/log")"
  [ -f "$h5" ] || { fail "no regions.h5 on $np ranks"; continue; }
  cp "$h5" "$tmp/regions_np$np.h5"
  "$check" "$h5" >"$tmp/dump_np$np" 2>"$tmp/check.err" ||
    fail "regions_check on $np ranks: $(head -5 "$tmp/check.err")"
done
grep -q "summary images 13 " "$tmp/dump_np1" || fail "1 rank: $(grep summary "$tmp/dump_np1")"
for np in 2 3; do
  "$h5cmp" "$tmp/regions_np1.h5" "$tmp/regions_np$np.h5" 0 threshold est n_crops image_height \
    image_width labels image_index box crop_box_int crop_height crop_width mask_area score \
    crop_offset mask_offset crop_pixels mask_pixels >"$tmp/cmp" 2>&1 ||
    fail "1 rank and $np ranks differ: $(grep -v 'diff 0 ' "$tmp/cmp" | head -5)"
  diff "$tmp/dump_np1" "$tmp/dump_np$np" >"$tmp/diff" ||
    fail "1 rank and $np ranks: regions_check dumps differ: $(head -6 "$tmp/diff")"
done

finish regions_ranks
