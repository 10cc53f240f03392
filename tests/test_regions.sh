#!/usr/bin/env bash
# `ancd regions` end to end on a tiny synthetic category (3 good + 5 types x 3 = 18 test images)
# after `ancd detect` with a random ViT-Ti at 128 px (blocks 3, 6): regions.h5 is complete and consistent
# (tests/regions_check.c: every image has >= 1 crop, crops equal the image inside their window,
# masks 0/255 with their areas, offsets, est + 1 rule), --export writes every crop and mask in
# AnomalyNCD's layout, the kept crops are measured against the ground-truth masks (regions.h5
# attributes defect_images*), a rerun skips, imported PNG maps (detect --export-maps) give the same
# thresholds, counts, boxes and pixels as maps.h5, and a missing or extra map, a missing maps.h5
# or import without maps_root fail naming what is wrong.
. "$(dirname "$0")/lib.sh"
bin=$(dirname "$ancd")/tests
check=$bin/regions_check
h5cmp=$bin/h5_compare
export OMP_NUM_THREADS=2

"$ancd" synth -o "$tmp/data" --categories 1 --train 2 --test-good 3 --per-type 3 -q 2>/dev/null ||
  { echo "FAIL: synth" >&2; exit 1; }
cat=$(ls "$tmp/data")
common=(-c "$src/configs/demo.yaml" --set dataset.root="$tmp/data" --set detect.image_size=128
        --set detect.layers=[3,6] --set detect.r_list=[1,3])
run() { # run JOB OUT [args...]
  local job=$1 out=$2; shift 2
  "$ancd" "$job" "${common[@]}" -o "$out" "$@"
}

expect 0 run detect "$tmp/o" --export-maps "$tmp/maps"
h5=$tmp/o/demo/$cat/regions.h5

# No regions.h5 before, a complete and consistent one after; every image has at least one crop.
expect 0 run regions "$tmp/o" --export "$tmp/x" --set regions.vis=true
contains "$tmp/err" "crops ("
contains "$tmp/err" "images/s"
[ -f "$h5" ] || fail "no regions.h5"
"$check" "$h5" >"$tmp/check1" 2>"$tmp/check1.err" || fail "regions_check: $(head -5 "$tmp/check1.err")"
contains "$tmp/check1" "summary images 18 "
# The synthetic set has masks: where the kept crops land is measured over its 15 defect images.
contains "$tmp/err" "kept crops on the ground truth in "
contains "$tmp/err" " of 15 defective images ("
contains "$tmp/check1" "attr defect_images 15"
min_crops=$(sed -n 's/.*min_crops \([0-9]*\).*/\1/p' "$tmp/check1")
[ "${min_crops:-0}" -ge 1 ] || fail "an image has ${min_crops:-no} crops"
max_crops=$(sed -n 's/.*max_crops \([0-9]*\).*/\1/p' "$tmp/check1")
# These maps give some image several regions, so the multi-crop path is exercised (the clean
# synthetic maps give few: blocks 1-2 give none).
[ "${max_crops:-0}" -ge 2 ] || fail "no image has 2 crops or more (max ${max_crops:-none})"
n_crops=$(sed -n 's/^summary images [0-9]* crops \([0-9]*\).*/\1/p' "$tmp/check1")

# --export: one image and one mask per crop, named <stem>_crop<i>.png per type.
n_img=$(find "$tmp/x/$cat/images" -name '*_crop*.png' | wc -l)
n_msk=$(find "$tmp/x/$cat/masks" -name '*_crop*.png' | wc -l)
[ "$n_img" = "$n_crops" ] || fail "--export wrote $n_img crops, regions.h5 holds $n_crops"
[ "$n_msk" = "$n_crops" ] || fail "--export wrote $n_msk masks, regions.h5 holds $n_crops"
for t in good crack; do
  [ -f "$tmp/x/$cat/images/$t/000_crop0.png" ] || fail "--export: no images/$t/000_crop0.png"
  [ -f "$tmp/x/$cat/masks/$t/000_crop0.png" ] || fail "--export: no masks/$t/000_crop0.png"
done
n_vis=$(find "$tmp/o/demo/$cat/regions_vis" -name '*.png' | wc -l)
[ "$n_vis" = 18 ] || fail "regions.vis wrote $n_vis pictures, want 18"

# A rerun with the same config skips (the file is untouched) and still exports.
cp "$h5" "$tmp/first.h5"
rm -rf "$tmp/x"
expect 0 run regions "$tmp/o" --export "$tmp/x" --set regions.vis=true
contains "$tmp/err" "skipped"
contains "$tmp/err" " of 15 defective images ("
lacks "$tmp/err" "regions $cat:"
cmp -s "$h5" "$tmp/first.h5" || fail "the skipped rerun rewrote regions.h5"
n_img=$(find "$tmp/x/$cat/images" -name '*_crop*.png' | wc -l)
[ "$n_img" = "$n_crops" ] || fail "the skipped rerun exported $n_img crops, want $n_crops"
# Another MEBin setting is not skipped; maps.h5 still matches this config (stage keys).
expect 0 run regions "$tmp/o" --set regions.min_interval_len=2
lacks "$tmp/err" "skipped"
contains "$tmp/err" "made with other regions settings"
lacks "$tmp/err" "maps.h5 was made with other"
"$check" "$h5" >"$tmp/check2" 2>"$tmp/check2.err" || fail "regions_check (2): $(head -5 "$tmp/check2.err")"

# Imported PNG maps (detect --export-maps) are the same 8-bit maps: the same file content.
expect 0 run regions "$tmp/i" --set detect.method=import --set detect.maps_root="$tmp/maps"
contains "$tmp/err" "maps from $tmp/maps"
"$h5cmp" "$tmp/first.h5" "$tmp/i/demo/$cat/regions.h5" 0 threshold est n_crops image_height image_width \
  labels image_index box crop_box_int crop_height crop_width mask_area score crop_offset \
  mask_offset crop_pixels mask_pixels >"$tmp/cmp" 2>&1 ||
  fail "imported maps and maps.h5 differ: $(grep -v 'diff 0 ' "$tmp/cmp" | head -5)"
"$check" "$tmp/i/demo/$cat/regions.h5" >"$tmp/check3" 2>&1 || fail "regions_check (import)"
diff <(grep -v '^attr maps_method\|^attr map_' "$tmp/check1") \
  <(grep -v '^attr maps_method\|^attr map_' "$tmp/check3") >/dev/null ||
  fail "imported maps: regions_check output differs from the maps.h5 run"

# A missing map and an extra map: exit 1 naming it.
cp -r "$tmp/maps" "$tmp/maps2"
rm "$tmp/maps2/$cat/crack/001.png"
expect 1 run regions "$tmp/i2" --set detect.method=import --set detect.maps_root="$tmp/maps2"
contains "$tmp/err" "test/crack/001.png: missing anomaly map"
[ -e "$tmp/i2/demo/$cat/regions.h5" ] && fail "a failed category left a regions.h5"
cp "$tmp/maps/$cat/crack/001.png" "$tmp/maps2/$cat/crack/001.png"
cp "$tmp/maps/$cat/crack/001.png" "$tmp/maps2/$cat/crack/009.png"
expect 1 run regions "$tmp/i2" --set detect.method=import --set detect.maps_root="$tmp/maps2"
contains "$tmp/err" "crack/009.png: extra anomaly map"
rm "$tmp/maps2/$cat/crack/009.png"
mkdir -p "$tmp/maps2/$cat/dent"
expect 1 run regions "$tmp/i2" --set detect.method=import --set detect.maps_root="$tmp/maps2"
contains "$tmp/err" "$cat/dent: extra anomaly-map folder"
rm -r "$tmp/maps2/$cat/dent" "$tmp/maps2/$cat/hole"
expect 1 run regions "$tmp/i2" --set detect.method=import --set detect.maps_root="$tmp/maps2"
contains "$tmp/err" "$cat/hole: missing map folder"

# No maps.h5: exit 1 naming it; import without maps_root: usage error.
expect 1 run regions "$tmp/none"
contains "$tmp/err" "$tmp/none/demo/$cat/maps.h5 is missing"
expect 2 run regions "$tmp/none" --set detect.method=import
contains "$tmp/err" "detect.maps_root"

finish test_regions
