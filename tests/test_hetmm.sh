#!/usr/bin/env bash
# `ancd detect` with detect.method: hetmm (issue 14) as a user meets it: ALL and PTS templates in
# templates.h5, a rerun that skips, new matching settings that reuse the templates, a templates.h5
# of another backbone recomputed, `ancd regions` on HETMM's maps, and the bad input: no normal
# training images, K > N, wrong per-layer lists, windows and post-processing.
# A random ViT-Ti at 64 px keeps each run about a second.
. "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1

"$ancd" synth -o "$tmp/a" --categories 1 --train 6 --test-good 3 --per-type 2 -q || fail "synth"
cat=$(ls "$tmp/a")
detect() { # detect DATA OUT [--set ...]
  local data=$1 out=$2; shift 2
  "$ancd" detect -c "$src/configs/demo.yaml" --set dataset.root="$data" --set detect.method=hetmm \
    --set detect.image_size=64 --set detect.layers=[1,2] --set detect.batch_size=4 -o "$out" "$@"
}
o="$tmp/o/demo/$cat"

# ALL: every output MuSc gives, plus templates.h5 with the 6 normal images as sheets.
expect 0 detect "$tmp/a" "$tmp/o"
for f in maps.h5 metrics.json templates.h5; do [ -f "$o/$f" ] || fail "no $f"; done
contains "$tmp/err" "templates from 6 normal images"
contains "$tmp/err" "13 images x 6 sheets"
for k in auroc_cls f1max_cls ap_cls auroc_px f1max_px ap_px aupro; do
  contains "$o/metrics.json" "\"$k\""
done
# A rerun skips; regions reads HETMM's maps as it reads MuSc's.
expect 0 detect "$tmp/a" "$tmp/o"
contains "$tmp/err" "skipped"
expect 0 "$ancd" regions -c "$src/configs/demo.yaml" --set dataset.root="$tmp/a" \
  --set detect.method=hetmm --set detect.image_size=64 --set detect.layers=[1,2] \
  --set detect.batch_size=4 -o "$tmp/o"
[ -f "$o/regions.h5" ] || fail "regions wrote no regions.h5 from HETMM's maps"
# New matching settings recompute the maps but read the templates.
expect 0 detect "$tmp/a" "$tmp/o" --set hetmm.alpha=[0.3,0.7] --set hetmm.fwd_windows=[3]
contains "$tmp/err" "read from templates.h5"
lacks "$tmp/err" "skipped"
# Another backbone: the templates are recomputed.
expect 0 detect "$tmp/a" "$tmp/o" --set seed=7
contains "$tmp/err" "templates.h5 was made with another backbone or template setting: recomputing"
contains "$tmp/err" "templates from 6 normal images"
# PTS, K = 3 (min_samples 2): 3 sheets per position; a separate PRO map.
expect 0 detect "$tmp/a" "$tmp/o" --set hetmm.templates=pts --set hetmm.tsize=3 \
  --set hetmm.post_pro=blur_s=2_k=5 --set hetmm.post_image=mp_k=8
contains "$tmp/err" "PTS: 3 sheets per position from 6 normal images (OPTICS min_samples 2"
contains "$tmp/err" "13 images x 3 sheets"
# HETMM's own PRO only when asked, as its own key.
lacks "$o/metrics.json" "pro_hetmm"
expect 0 detect "$tmp/a" "$tmp/o" --set hetmm.pro_variant=true
contains "$o/metrics.json" "\"pro_hetmm\""
contains "$tmp/err" "HETMM's own PRO"
# N // K = 1: min_samples = N (sklearn 0.24's reading), logged.
expect 0 detect "$tmp/a" "$tmp/o" --set hetmm.templates=pts --set hetmm.tsize=6
contains "$tmp/err" "OPTICS min_samples = N = 6"

# K > N: an input error naming the category, N and K.
expect 1 detect "$tmp/a" "$tmp/o2" --set hetmm.templates=pts --set hetmm.tsize=7
contains "$tmp/err" "category $cat: hetmm.tsize 7 is larger than its 6 normal training images"
# No normal training images: an input error naming the category.
cp -r "$tmp/a" "$tmp/b" && rm -rf "$tmp/b/$cat/train"
expect 1 detect "$tmp/b" "$tmp/o3"
contains "$tmp/err" "category $cat has no normal training images"
[ -e "$tmp/o3/demo/$cat/maps.h5" ] && fail "a category without templates left a maps.h5"

# The reference's MVTec AD parameters load, per category.
expect 0 "$ancd" config -c "$src/configs/hetmm_mvtec_ad.yaml" --category cable
contains "$tmp/out" "post_pixel: \"blur_s=8.600000000000001_k=61\""
contains "$tmp/out" "fwd_windows: \[13, 5, 7\]"

# Usage errors: exit 2 naming the key, before any work.
expect 2 detect "$tmp/a" "$tmp/o2" --set hetmm.fwd_windows=[4]
contains "$tmp/err" "windows must be odd"
expect 2 detect "$tmp/a" "$tmp/o2" --set hetmm.alpha=[0.1,0.2,0.3]
contains "$tmp/err" "hetmm.alpha (category $cat): 3 values for 2 detect.layers"
expect 2 detect "$tmp/a" "$tmp/o2" --set hetmm.post_pixel=mp_k=5
contains "$tmp/err" "hetmm.post_pixel"
expect 2 detect "$tmp/a" "$tmp/o2" --set hetmm.post_image=blur_s=1_k=4
contains "$tmp/err" "odd k"

finish test_hetmm
