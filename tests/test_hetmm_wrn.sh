#!/usr/bin/env bash
# `ancd detect` with detect.method: hetmm on HETMM's own backbone, a WideResNet (issue 14,
# musc_hetmm_spec §B.4): random wide_resnet50_2 weights (layer1..3 at 64 px) give maps.h5,
# metrics and templates.h5 naming the arch; a torchvision safetensors file (the narrow golden
# WRN) loads by its keys; and the usage errors: a stage beyond 3, an image side not a multiple
# of 16, a file that is not backbone.arch, and a WideResNet for MuSc or `ancd train`.
# WRN-50-2 at 64 px is about 1.5 GFLOP per image: the one run with it takes a few seconds.
. "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=2

"$ancd" synth -o "$tmp/a" --categories 1 --train 3 --test-good 2 --per-type 2 -q || fail "synth"
cat=$(ls "$tmp/a")
narrow="$src/tests/golden/wrn/narrow_weights.safetensors"
detect() { # detect OUT [--set ...]
  local out=$1; shift
  "$ancd" detect -c "$src/configs/demo.yaml" --set dataset.root="$tmp/a" --set detect.method=hetmm \
    --set detect.image_size=64 --set detect.layers=[1,2,3] --set detect.batch_size=4 \
    --set backbone.arch=wide_resnet50_2 -o "$out" "$@"
}
o="$tmp/o/demo/$cat"

# Random WRN-50-2: every output, the templates at layer1..3's shapes, the arch named.
expect 0 detect "$tmp/o"
for f in maps.h5 metrics.json templates.h5; do [ -f "$o/$f" ] || fail "no $f"; done
contains "$tmp/err" "random wide_resnet50_2 (seed"
contains "$tmp/err" "stages 1..3"
contains "$tmp/err" "templates from 3 normal images"
for k in auroc_cls auroc_px aupro; do contains "$o/metrics.json" "\"$k\""; done
# A rerun skips it.
expect 0 detect "$tmp/o"
contains "$tmp/err" "skipped"

# A torchvision safetensors file, recognised by its keys (backbone.arch left at the ViT default).
expect 0 detect "$tmp/o" --set backbone.weights="$narrow" --set backbone.arch=vit_tiny_patch16
contains "$tmp/err" "ResNet from $narrow"
contains "$tmp/err" "templates.h5 was made with another backbone or template setting: recomputing"
# ... but a ResNet name in backbone.arch must be the file's.
expect 2 detect "$tmp/o2" --set backbone.weights="$narrow"
contains "$tmp/err" "backbone.arch wide_resnet50_2, but backbone.weights $narrow holds a different"

# Usage errors: exit 2 naming the key.
expect 2 detect "$tmp/o2" --set detect.layers=[1,4]
contains "$tmp/err" "detect.layers: 4, but a WideResNet backbone has stages 1..3"
expect 2 detect "$tmp/o2" --set detect.image_size=72
contains "$tmp/err" "detect.image_size 72: a WideResNet backbone needs a multiple of 16"
expect 2 detect "$tmp/o2" --set detect.method=musc
contains "$tmp/err" "WideResNet backbones are for detect.method: hetmm"
expect 2 detect "$tmp/o2" --set detect.method=musc --set backbone.weights="$narrow" \
  --set backbone.arch=vit_tiny_patch16 --set detect.layers=[1,2]
contains "$tmp/err" "backbone.weights $narrow (torchvision ResNet keys): WideResNet backbones are"
expect 2 "$ancd" train -c "$src/configs/demo.yaml" --set dataset.root="$tmp/a" \
  --set backbone.arch=wide_resnet50_2 -o "$tmp/o"
contains "$tmp/err" "WideResNet backbones are for detect.method: hetmm"
[ -e "$tmp/o2/demo/$cat/maps.h5" ] && fail "a usage error left a maps.h5"

# `ancd info --weights` describes a WideResNet file.
expect 0 "$ancd" info --weights "$narrow"
contains "$tmp/out" "torchvision ResNet (Bottleneck): stem 8, blocks 2/2/2"

# configs/hetmm_mvtec_ad.yaml is HETMM's setting: WRN-101-2, 256 px, layer1..3.
expect 0 "$ancd" config -c "$src/configs/hetmm_mvtec_ad.yaml" --category zipper
contains "$tmp/out" "arch: \"\?wide_resnet101_2"
contains "$tmp/out" "layers: \[1, 2, 3\]"
contains "$tmp/out" "image_size: 256"

finish test_hetmm_wrn
