#!/usr/bin/env bash
# `ancd predict` (issue 13): a category's own test images predicted against its stored pool give
# back their maps and scores (within 1e-5) and every head's image class (exactly), zero-shot and
# with references, on 1 and 2 ranks alike; a new image of another size is predicted; a corrupt
# image is reported while the others are predicted (exit 1); a category without features.h5,
# without model.h5 or with a features.h5 of another backbone is an error saying what to run.
#   predict_pool.sh H5_COMPARE MPIEXEC
. "$(dirname "$0")/lib.sh"
h5cmp=${1:?usage: predict_pool.sh H5_COMPARE MPIEXEC}
mpiexec=${2:?usage: predict_pool.sh H5_COMPARE MPIEXEC}
export OMP_NUM_THREADS=1

"$ancd" synth -o "$tmp/data" --categories 1 --train 4 --test-good 3 --per-type 3 -q 2>/dev/null ||
  { echo "FAIL: synth" >&2; exit 1; }
cat=$(ls "$tmp/data")
images=$(LC_ALL=C ls -d "$tmp/data/$cat"/test/*/*) # maps.h5's order: type, then file name
set_common() { # OUT [--set ...]
  common=(-c "$src/configs/demo.yaml" --set dataset.root="$tmp/data" --set detect.image_size=32
          --set detect.layers=[1,2] --set detect.r_list=[1,3] --set train.epochs=1
          --set train.batch_size=8 --set detect.keep_features=true -o "$1")
  shift
  common+=("$@")
}

check_own() { # OUT NP LABEL: predict the test images, compare with the category's own results
  local out=$1 np=$2 label=$3 d="$1/demo/$cat"
  # shellcheck disable=SC2086
  "$mpiexec" -np "$np" --allow-run-as-root --oversubscribe "$ancd" predict "${common[@]}" \
    --category "$cat" $images >"$tmp/p.log" 2>&1 || fail "$label: predict on $np ranks: $(tail -3 "$tmp/p.log")"
  "$h5cmp" "$d/predict/predictions.h5" "$d/maps.h5" 1e-5 maps scores scores_rscin >/dev/null ||
    fail "$label ($np ranks): predicted maps or scores differ from maps.h5"
  "$h5cmp" "$d/predict/predictions.h5" "$d/results.h5" 0 image_pred >/dev/null ||
    fail "$label ($np ranks): predicted classes differ from results.h5"
  [ "$(grep -c ",ok," "$d/predict/predictions.csv")" = 18 ] || fail "$label: 18 ok rows expected"
  cp "$d/predict/predictions.h5" "$tmp/${label}_np$np.h5"
}

# Zero-shot: run every stage, then predict on 1 and 2 ranks (identical files).
set_common "$tmp/zs"
expect 0 "$ancd" run "${common[@]}" -q
check_own "$tmp/zs" 1 zero
check_own "$tmp/zs" 2 zero
# (the new images' GEMM rows are packed per chunk, which moves the last bits of a value)
"$h5cmp" "$tmp/zero_np1.h5" "$tmp/zero_np2.h5" 1e-6 maps scores scores_rscin >/dev/null ||
  fail "1 and 2 ranks predict different maps"
"$h5cmp" "$tmp/zero_np1.h5" "$tmp/zero_np2.h5" 0 image_pred >/dev/null ||
  fail "1 and 2 ranks predict different classes"
d="$tmp/zs/demo/$cat/predict"
contains "$d/predictions.json" '"threshold_rule": "f1max"'
contains "$d/predictions.json" '"regions": \[{"box": \['
[ -s "$d/crack_000.png" ] || fail "no picture crack_000.png: $(ls "$d" | head)"

# With references (nearest rule): the pool holds the train images too.
set_common "$tmp/ref" --set detect.reference=train
expect 0 "$ancd" run "${common[@]}" -q
check_own "$tmp/ref" 1 reference
contains "$tmp/p.log" "against a pool of 18 test images and their references"

# New images: a train image (not in the zero-shot pool) and, with the shared data, an MTD photo
# of another size; a corrupt file is reported, the others are still predicted (exit 1).
set_common "$tmp/zs"
printf 'not a png' >"$tmp/corrupt.png"
new=("$tmp/data/$cat/train/good/000.png" "$tmp/corrupt.png")
mtd=$(ls "$src/../shared/data/mtd/MT_Free/Imgs/"*.jpg 2>/dev/null | head -1)
[ -n "$mtd" ] && new+=("$mtd")
expect 1 "$ancd" predict "${common[@]}" --category "$cat" "${new[@]}"
contains "$tmp/err" "corrupt.png"
csv="$tmp/zs/demo/$cat/predict/predictions.csv"
grep -q "train/good/000.png\",ok," "$csv" || fail "the train image was not predicted: $(cat "$csv")"
grep -q "corrupt.png\",error," "$csv" || fail "the corrupt image is not an error row"
[ -z "$mtd" ] || grep -q "$(basename "$mtd")\",ok," "$csv" || fail "the MTD image was not predicted"
[ -n "$mtd" ] || echo "note: ../shared/data absent: the other-size image is not tried"

# Missing pieces name what to run.
cp -r "$tmp/zs" "$tmp/nofeat" && rm "$tmp/nofeat/demo/$cat/features.h5"
set_common "$tmp/nofeat"
expect 1 "$ancd" predict "${common[@]}" --category "$cat" "$tmp/data/$cat/train/good/000.png"
contains "$tmp/err" "features.h5"
cp -r "$tmp/zs" "$tmp/nomodel" && rm "$tmp/nomodel/demo/$cat/model.h5"
set_common "$tmp/nomodel"
expect 1 "$ancd" predict "${common[@]}" --category "$cat" "$tmp/data/$cat/train/good/000.png"
contains "$tmp/err" "model.h5 is missing: run \`ancd train\` first"
# A features.h5 of another backbone (a random ViT-S) in place of the category's.
set_common "$tmp/other" --set backbone.arch=vit_small_patch16
expect 0 "$ancd" detect "${common[@]}" -q
cp "$tmp/other/demo/$cat/features.h5" "$tmp/nofeat/demo/$cat/features.h5"
set_common "$tmp/nofeat"
expect 1 "$ancd" predict "${common[@]}" --category "$cat" "$tmp/data/$cat/train/good/000.png"
contains "$tmp/err" "features.h5 was made with other dataset, backbone or detect settings"
# Usage: no category.
expect 2 "$ancd" predict "${common[@]}" "$tmp/data/$cat/train/good/000.png"
contains "$tmp/err" "--category"

finish predict_pool
