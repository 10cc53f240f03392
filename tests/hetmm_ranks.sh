#!/usr/bin/env bash
# `ancd detect` with detect.method: hetmm gives the same templates, maps and scores on 1 and 2 MPI
# ranks (issue 14: images and PTS positions are sharded over the ranks; max abs diff <= 1e-6),
# for ALL and PTS templates; and the templates.h5 a 2-rank run wrote is read by 1 rank. The same
# with HETMM's WideResNet (random wide_resnet50_2, layer1..3, ALL).
#   hetmm_ranks.sh H5_COMPARE MPIEXEC
. "$(dirname "$0")/lib.sh"
h5cmp=${1:?usage: hetmm_ranks.sh H5_COMPARE MPIEXEC}
mpiexec=${2:?usage: hetmm_ranks.sh H5_COMPARE MPIEXEC}
export OMP_NUM_THREADS=1

"$ancd" synth -o "$tmp/data" --categories 1 --train 7 --test-good 3 --per-type 2 -q ||
  { echo "FAIL: synth" >&2; exit 1; }
cat=$(ls "$tmp/data" | head -1)
common=(-c "$src/configs/demo.yaml" --set dataset.root="$tmp/data" --set detect.method=hetmm
        --set detect.image_size=64 --set detect.layers=[1,2] --set detect.batch_size=2
        --set hetmm.fwd_windows=[3,5] --set hetmm.alpha=[0.3,0.7] --set hetmm.lambda=[1,0.5])
for mode in all pts; do
  for np in 1 2; do
    out="$tmp/out_${mode}_np$np"
    "$mpiexec" -np "$np" --allow-run-as-root --oversubscribe "$ancd" detect "${common[@]}" \
      --set hetmm.templates=$mode --set hetmm.tsize=3 -o "$out" >"$tmp/log" 2>&1 ||
      fail "hetmm $mode on $np ranks: $(tail -5 "$tmp/log")"
    [ -f "$out/demo/$cat/maps.h5" ] || fail "no maps.h5 for $mode on $np ranks"
  done
  "$h5cmp" "$tmp/out_${mode}_np1/demo/$cat/maps.h5" "$tmp/out_${mode}_np2/demo/$cat/maps.h5" \
    1e-6 maps scores scores_rscin labels masks || fail "$mode: 1 rank and 2 ranks differ (maps)"
  "$h5cmp" "$tmp/out_${mode}_np1/demo/$cat/templates.h5" \
    "$tmp/out_${mode}_np2/demo/$cat/templates.h5" 1e-6 layer0 layer1 ||
    fail "$mode: 1 rank and 2 ranks differ (templates)"
done
# PTS's sheets are not ALL's (K = 3 of 7).
"$h5cmp" "$tmp/out_all_np1/demo/$cat/maps.h5" "$tmp/out_pts_np1/demo/$cat/maps.h5" 1e-6 maps \
  >/dev/null && fail "PTS gave the same maps as ALL"
# 1 rank reads the templates 2 ranks wrote (maps.h5 removed so the category reruns).
rm "$tmp/out_pts_np2/demo/$cat/maps.h5"
"$ancd" detect "${common[@]}" --set hetmm.templates=pts --set hetmm.tsize=3 \
  -o "$tmp/out_pts_np2" >"$tmp/log" 2>&1 || fail "rerun on 1 rank: $(tail -5 "$tmp/log")"
grep -q "read from templates.h5" "$tmp/log" || fail "the rerun did not read templates.h5"
"$h5cmp" "$tmp/out_pts_np1/demo/$cat/maps.h5" "$tmp/out_pts_np2/demo/$cat/maps.h5" 1e-6 maps \
  scores || fail "maps from the read templates differ"

# The WideResNet backbone: the same maps on 1 and 2 ranks.
for np in 1 2; do
  out="$tmp/out_wrn_np$np"
  "$mpiexec" -np "$np" --allow-run-as-root --oversubscribe "$ancd" detect "${common[@]}" \
    --set backbone.arch=wide_resnet50_2 --set detect.layers=[1,2,3] --set hetmm.fwd_windows=[3] \
    --set hetmm.alpha=[0.5] --set hetmm.lambda=[1] -o "$out" >"$tmp/log" 2>&1 ||
    fail "hetmm with a WRN on $np ranks: $(tail -5 "$tmp/log")"
done
"$h5cmp" "$tmp/out_wrn_np1/demo/$cat/maps.h5" "$tmp/out_wrn_np2/demo/$cat/maps.h5" 1e-6 maps \
  scores scores_rscin labels masks || fail "WRN: 1 rank and 2 ranks differ (maps)"
"$h5cmp" "$tmp/out_wrn_np1/demo/$cat/templates.h5" "$tmp/out_wrn_np2/demo/$cat/templates.h5" \
  1e-6 layer0 layer1 layer2 || fail "WRN: 1 rank and 2 ranks differ (templates)"

finish hetmm_ranks
