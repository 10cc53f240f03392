#!/usr/bin/env bash
# HETMM on real data (issue 14; label real, skipped without ../shared/data): a small MTD split
# (the first 40 train normals of the standard split as templates; 10 held-out good and 4 of each
# defect class as tests) with the real ViT-Ti/16, ALL and PTS K = 10. Checks that the metrics are
# those of a working detector (image and pixel AUROC >= 0.75; measured 0.835 / 0.854 with ALL,
# 0.805 / 0.849 with PTS; 0.95 / 0.86 with ALL on the full split) and that PTS matches against 10
# sheets per position. About 40 s.
. "$(dirname "$0")/lib.sh"
shared=${ANCD_SHARED:-$src/../shared}
mtd=$shared/data/mtd
weights=$shared/data/weights/vit_tiny_patch16_224.safetensors
if [ ! -f "$mtd/mtd_train_filenames.txt" ] || [ ! -f "$weights" ]; then
  echo "skipped: ../shared/data/mtd or the ViT-Ti/16 weights are absent"
  exit 77
fi
export OMP_NUM_THREADS=2
d="$tmp/mtd"
mkdir -p "$d/MT_Free/Imgs"
head -40 "$mtd/mtd_train_filenames.txt" >"$d/mtd_train_filenames.txt"
n=0
for f in $(ls "$mtd/MT_Free/Imgs" | grep '\.jpg$'); do # the 40 templates and 10 test goods
  stem=${f%.jpg}
  if grep -qx -e "$f" -e "$stem" "$d/mtd_train_filenames.txt"; then
    ln -s "$mtd/MT_Free/Imgs/$f" "$d/MT_Free/Imgs/$f"
  elif [ $n -lt 10 ] && ! grep -qx -e "$f" -e "$stem" "$mtd/mtd_train_filenames.txt"; then
    ln -s "$mtd/MT_Free/Imgs/$f" "$d/MT_Free/Imgs/$f"
    n=$((n + 1))
  fi
done
for cls in Blowhole Break Crack Fray Uneven; do
  mkdir -p "$d/MT_$cls/Imgs"
  for f in $(ls "$mtd/MT_$cls/Imgs" | grep '\.jpg$' | head -4); do
    ln -s "$mtd/MT_$cls/Imgs/$f" "$d/MT_$cls/Imgs/$f"
    ln -s "$mtd/MT_$cls/Imgs/${f%.jpg}.png" "$d/MT_$cls/Imgs/${f%.jpg}.png"
  done
done
run() {
  "$ancd" detect -c "$src/configs/mtd.yaml" --set dataset.root="$d" --set backbone.weights="$weights" \
    --set backbone.mean=[0.5,0.5,0.5] --set backbone.std=[0.5,0.5,0.5] --set detect.method=hetmm \
    --set detect.batch_size=8 "$@"
}
metric() { sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p" "$1"; }
for mode in all pts; do
  expect 0 run --set hetmm.templates=$mode --set hetmm.tsize=10 -o "$tmp/o_$mode"
  j="$tmp/o_$mode/mtd/MTD/metrics.json"
  a=$(metric "$j" auroc_cls) p=$(metric "$j" auroc_px)
  echo "$mode: image AUROC $a, pixel AUROC $p"
  awk -v a="$a" -v p="$p" 'BEGIN { exit !(a >= 0.75 && p >= 0.75) }' ||
    fail "$mode: image AUROC $a or pixel AUROC $p below 0.75"
done
contains "$tmp/err" "templates from 40 normal images"
contains "$tmp/err" "30 images x 10 sheets"
finish real_hetmm_mtd
