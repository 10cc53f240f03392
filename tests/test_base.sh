#!/usr/bin/env bash
# `ancd base` end to end on a tiny synthetic category (5 defect types x 2 images, masks): base.h5
# holds 5 classes (the defect types, sorted), every crop's mask has foreground, at most 2 crops
# per image (an image given 3 extra mask regions gets exactly 2), an image with an empty mask is
# skipped with a warning; --export writes the AeBAD_crop-style folder, which reads back as the
# same set; a rerun skips, another dataset setting recomputes, a damaged base.h5 is recomputed;
# a layout without masks fails naming why. tests/test_base_set is the reader's helper.
. "$(dirname "$0")/lib.sh"
bin=$(dirname "$ancd")/tests
check=$bin/test_base_set
export OMP_NUM_THREADS=2

"$ancd" synth -o "$tmp/data" --categories 1 --train 1 --test-good 2 --per-type 2 -q 2>/dev/null ||
  { echo "FAIL: synth" >&2; exit 1; }
cat=$(ls "$tmp/data")
# crack/000: three more regions in the corners (§3.4 keeps 2 boxes); stain/001: an empty mask.
"$check" blobs "$tmp/data/$cat/ground_truth/crack/000_mask.png" 3 || fail "blobs"
"$check" blobs "$tmp/data/$cat/ground_truth/stain/001_mask.png" 0 || fail "clear"
common=(-c "$src/configs/demo.yaml" --set dataset.root="$tmp/data" -o "$tmp/o")
h5=$tmp/o/demo/base.h5

expect 0 "$ancd" base "${common[@]}" --export "$tmp/x"
contains "$tmp/err" "5 classes, 9 images (1 skipped: empty mask)"
contains "$tmp/err" "stain/001.png: no foreground"
[ -f "$h5" ] || fail "no base.h5"
"$check" summary "$h5" >"$tmp/sum" 2>&1 || fail "summary: $(cat "$tmp/sum")"
contains "$tmp/sum" "^classes 5$"
for t in contamination crack hole scratch stain; do contains "$tmp/sum" "^class [0-4] $t "; done
contains "$tmp/sum" "^class 1 crack 3$" # 2 images, one with 2 crops
contains "$tmp/sum" "^class 4 stain 1$"
contains "$tmp/sum" "^max_crops_per_image 2$"
contains "$tmp/sum" "^source h5$"
fg=$(sed -n 's/^min_foreground //p' "$tmp/sum")
[ "${fg:-0}" -gt 0 ] || fail "a crop's mask has no foreground (min ${fg:-none})"
[ -f "$tmp/x/images/crack/000_crop1.png" ] || fail "--export: no images/crack/000_crop1.png"
[ -f "$tmp/x/masks/crack/000_crop1.png" ] || fail "--export: no masks/crack/000_crop1.png"
[ -f "$tmp/x/images/crack/000_crop2.png" ] && fail "--export: a third crop"
"$check" summary "$tmp/x" >"$tmp/sum2" 2>&1 || fail "summary of the folder: $(cat "$tmp/sum2")"
diff <(grep -v '^source' "$tmp/sum") <(grep -v '^source' "$tmp/sum2") >/dev/null ||
  fail "the exported folder reads back differently"

# A rerun skips (the file is untouched); another dataset setting recomputes.
cp "$h5" "$tmp/first.h5"
expect 0 "$ancd" base "${common[@]}"
contains "$tmp/err" "skipped (complete: $h5"
cmp -s "$h5" "$tmp/first.h5" || fail "the skipped rerun rewrote base.h5"
expect 0 "$ancd" base "${common[@]}" --set dataset.mask_suffix=_mask.png --set dataset.name=demo
contains "$tmp/err" "skipped"
expect 0 "$ancd" base "${common[@]}" --set dataset.categories=["$cat"]
contains "$tmp/err" "made with other dataset settings: recomputing"
# A damaged base.h5 is recomputed with a warning naming it.
head -c 2000 "$tmp/first.h5" >"$h5"
expect 0 "$ancd" base "${common[@]}"
contains "$tmp/err" "$h5: not an HDF5 file or truncated"
"$check" summary "$h5" >/dev/null 2>&1 || fail "the recomputed base.h5 does not load"

# No masks (layout anomalies): exit 1 saying why; no config: usage error.
mkdir -p "$tmp/anom/$cat" && cp -r "$tmp/data/$cat/test/crack" "$tmp/data/$cat/test/hole" "$tmp/anom/$cat"
expect 1 "$ancd" base -c "$src/configs/demo.yaml" --set dataset.root="$tmp/anom" \
  --set dataset.layout=anomalies -o "$tmp/none"
contains "$tmp/err" "has no ground-truth masks"
[ -e "$tmp/none/demo/base.h5" ] && fail "a failed run left a base.h5"
expect 2 "$ancd" base
contains "$tmp/err" "-c CONFIG is needed"
expect 0 "$ancd" base --help
contains "$tmp/out" "base.h5"

finish test_base
