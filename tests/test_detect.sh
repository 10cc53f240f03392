#!/usr/bin/env bash
# `ancd detect` on bad input and its outputs, as a user meets them: too few images, a corrupt
# image, a mask and an image of another size, resume, --export-maps and heat maps, usage errors.
# A random ViT-Ti at 32 px keeps each run well under a second.
. "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1

# A fresh small category: 3 good + 5 types x 2 defects = 13 test images.
newset() {
  rm -rf "$1"
  "$ancd" synth -o "$1" --categories 1 --train 1 --test-good 3 --per-type 2 -q ||
    fail "synth $1"
}
detect() { # detect DATA OUT [--set ...]
  local data=$1 out=$2; shift 2
  "$ancd" detect -c "$src/configs/demo.yaml" --set dataset.root="$data" \
    --set detect.image_size=32 --set detect.layers=[1,2] --set detect.r_list=[1,3] -o "$out" "$@"
}

newset "$tmp/a"
cat=$(ls "$tmp/a")
d="$tmp/a/$cat"

# A good run: outputs, metric keys, table row; a rerun skips the complete category.
expect 0 detect "$tmp/a" "$tmp/o1" --set detect.vis=whole_norm --export-maps "$tmp/x1"
[ -f "$tmp/o1/demo/$cat/maps.h5" ] || fail "no maps.h5"
for k in auroc_cls f1max_cls ap_cls auroc_px f1max_px ap_px aupro; do
  contains "$tmp/o1/demo/$cat/metrics.json" "\"$k\""
done
contains "$tmp/o1/demo/tables.md" "| $cat |"
contains "$tmp/out" "| $cat |"
contains "$tmp/err" "images/s"
n_vis=$(find "$tmp/o1/demo/$cat/vis" -name '*.png' | wc -l)
[ "$n_vis" = 13 ] || fail "whole_norm wrote $n_vis heat maps, want 13"
n_exp=$(find "$tmp/x1/$cat" -name '*.png' | wc -l)
[ "$n_exp" = 13 ] || fail "--export-maps wrote $n_exp maps, want 13"
[ -f "$tmp/x1/$cat/good/000.png" ] || fail "--export-maps layout: no $cat/good/000.png"
cp "$tmp/o1/demo/$cat/maps.h5" "$tmp/maps_first.h5"
expect 0 detect "$tmp/a" "$tmp/o1" --set detect.vis=whole_norm
contains "$tmp/err" "skipped"
lacks "$tmp/err" "extract"
cmp -s "$tmp/o1/demo/$cat/maps.h5" "$tmp/maps_first.h5" || fail "the skipped rerun rewrote maps.h5"
# Another config is not skipped.
expect 0 detect "$tmp/a" "$tmp/o1" --set detect.vis=whole_norm --set detect.r_list=[1]
lacks "$tmp/err" "skipped"
contains "$tmp/err" "made with other dataset, backbone or detect settings: recomputing"

# Usage errors: exit 2 with the key named, before any output.
expect 2 detect "$tmp/a" "$tmp/o2" --set detect.image_size=40
contains "$tmp/err" "not a multiple of the backbone's patch 16"
expect 2 detect "$tmp/a" "$tmp/o2" --set detect.bogus=1
contains "$tmp/err" "detect.bogus"
expect 2 detect "$tmp/a" "$tmp/o2" --set detect.method=import
contains "$tmp/err" "not implemented yet"
expect 2 detect "$tmp/a" "$tmp/o2" --set detect.layers=[1,13]
contains "$tmp/err" "block 13"
[ -e "$tmp/o2/demo/$cat/maps.h5" ] && fail "a usage error left a maps.h5"

# A mask of another size is resized (nearest) and the run works; so is an image of another size.
cp "$src/tests/golden/decode/gray8.png" "$d/ground_truth/crack/000_mask.png"
cp "$src/tests/golden/decode/rgb420.jpg" "$d/test/good/001.png"
expect 0 detect "$tmp/a" "$tmp/o3"
contains "$tmp/err" "000_mask.png: mask is 7x5 but its image is 256x256"
[ -f "$tmp/o3/demo/$cat/maps.h5" ] || fail "no maps.h5 with a mask of another size"

# A corrupt image with io.max_bad_fraction 0: exit 1 naming the file; tolerated with 0.1.
newset "$tmp/b"
head -c 100 "$tmp/b/$cat/test/good/000.png" >"$tmp/cut.png"
mv "$tmp/cut.png" "$tmp/b/$cat/test/good/000.png"
expect 1 detect "$tmp/b" "$tmp/o4"
contains "$tmp/err" "test/good/000.png"
[ -e "$tmp/o4/demo/$cat/maps.h5" ] && fail "a failed category left a maps.h5"
expect 0 detect "$tmp/b" "$tmp/o4" --set io.max_bad_fraction=0.1
contains "$tmp/err" "test/good/000.png"

# NaN in the features (a checkpoint whose patch-embedding bias is NaN): exit 1 naming the image.
w="$tmp/nan.safetensors"
cp "$src/tests/golden/vit/timm_vit.safetensors" "$w"
entry='"patch_embed.proj.bias":{"dtype":"BF16","shape":[64],"data_offsets":[202516,202644]}'
if grep -aqF "$entry" "$w"; then
  hdr=$(od -An -t u8 -N 8 "$w" | tr -d ' ')
  perl -e 'open(F, "+<", $ARGV[0]) or die; binmode F; seek(F, $ARGV[1], 0); print F "\xc0\x7f" x 64' \
    "$w" $((8 + hdr + 202516)) # bf16 NaN 0x7fc0, little endian
  expect 1 detect "$tmp/a" "$tmp/o6" --set backbone.weights="$w" --set detect.image_size=16
  contains "$tmp/err" "category $cat: $tmp/a/$cat/test/.*: NaN or Inf in the features of block 1"
else
  fail "tests/golden/vit/timm_vit.safetensors changed: update the NaN test's offsets"
fi

# 3 normal images only: K = floor(0.3 x 2) = 0 becomes 1 (logged); the metrics are NaN with
# the reasons; then 1 image: exit 1 naming the category.
newset "$tmp/c"
for t in "$tmp/c/$cat/test/"*; do
  [ "$(basename "$t")" = good ] || rm -rf "$t" "$tmp/c/$cat/ground_truth/$(basename "$t")"
done
expect 0 detect "$tmp/c" "$tmp/o5"
contains "$tmp/err" "MSM uses K = 1"
contains "$tmp/o5/demo/$cat/metrics.json" '"auroc_cls": null'
contains "$tmp/o5/demo/$cat/metrics.json" "no anomalous image"
contains "$tmp/o5/demo/$cat/metrics.json" "no positive ground-truth pixel"
rm -f "$tmp/c/$cat/test/good/001.png" "$tmp/c/$cat/test/good/002.png"
expect 1 detect "$tmp/c" "$tmp/o7"
contains "$tmp/err" "category $cat: MuSc needs at least 2 test images, found 1"

finish test_detect
