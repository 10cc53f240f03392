#!/usr/bin/env bash
# Stage keys and the readers' validity test, as a user meets them (issue 8): a change of a later
# stage's key never recomputes an earlier stage, a change of an earlier one recomputes everything
# after it, and a truncated or damaged output is recomputed with a warning instead of being
# skipped. A random ViT-Ti at 32 px keeps each run well under a second.
. "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1

"$ancd" synth -o "$tmp/data" --categories 1 --train 1 --test-good 3 --per-type 2 -q 2>/dev/null ||
  fail "synth"
cat=$(ls "$tmp/data")
o="$tmp/o/demo/$cat"
run() { # run JOB [--set ...]
  local job=$1; shift
  "$ancd" "$job" -c "$src/configs/demo.yaml" --set dataset.root="$tmp/data" \
    --set detect.image_size=32 --set detect.layers=[1,2] --set detect.r_list=[1,3] -o "$tmp/o" "$@"
}
# inode and content of a file, to tell "skipped" from "rewritten with the same bytes"
stamp() { echo "$(stat -c %i "$1") $(md5sum <"$1")"; }

expect 0 run detect
expect 0 run regions
maps0=$(stamp "$o/maps.h5")
regions0=$(stamp "$o/regions.h5")
metrics0=$(stamp "$o/metrics.json")

# Later stages' keys, and keys outside every hash: nothing is recomputed.
for set in train.lr=0.01 train.epochs=3 classify.merge_temperature=4 detect.vis=whole_norm \
  parallel.group_size=1 io.max_bad_fraction=0.5 regions.vis=true; do
  expect 0 run detect --set "$set"
  contains "$tmp/err" "skipped (complete: $o/maps.h5"
  lacks "$tmp/err" "recomputing"
  expect 0 run regions --set "$set"
  contains "$tmp/err" "skipped (complete: $o/regions.h5"
  lacks "$tmp/err" "recomputing"
done
[ "$(stamp "$o/maps.h5")" = "$maps0" ] || fail "maps.h5 was rewritten by later-stage changes"
[ "$(stamp "$o/regions.h5")" = "$regions0" ] || fail "regions.h5 was rewritten"
[ "$(stamp "$o/metrics.json")" = "$metrics0" ] || fail "metrics.json was rewritten"

# A regions key: regions recomputed, maps untouched; and back again.
expect 0 run detect --set regions.erode_kernel=4
contains "$tmp/err" "skipped"
expect 0 run regions --set regions.erode_kernel=4
contains "$tmp/err" "made with other regions settings or other maps: recomputing"
[ "$(stamp "$o/maps.h5")" = "$maps0" ] || fail "a regions key recomputed maps.h5"
expect 0 run regions
contains "$tmp/err" "recomputing"
regions1=$(stamp "$o/regions.h5")

# A detect key: maps recomputed, then regions recomputed because its parent changed, although
# no regions key changed.
expect 0 run detect --set detect.r_list=[1]
contains "$tmp/err" "made with other dataset, backbone or detect settings: recomputing"
expect 0 run regions --set detect.r_list=[1]
contains "$tmp/err" "other maps: recomputing"
# regions with the old detect settings on the new maps: warned, used, and keyed by those maps.
expect 0 run regions
contains "$tmp/err" "maps.h5 was made with other dataset, backbone or detect settings than this config"
contains "$tmp/err" "skipped"
expect 0 run detect
contains "$tmp/err" "recomputing"
expect 0 run regions
contains "$tmp/err" "recomputing"

# Damaged files. A truncated maps.h5: regions says so and loses nothing; detect recomputes it.
regions1=$(stamp "$o/regions.h5")
truncate -s 20000 "$o/maps.h5"
expect 1 run regions
contains "$tmp/err" "$o/maps.h5"
contains "$tmp/err" "truncated"
contains "$tmp/err" "run \`ancd detect\` to recompute it"
[ "$(stamp "$o/regions.h5")" = "$regions1" ] || fail "regions.h5 was touched while maps.h5 was damaged"
expect 0 run detect
contains "$tmp/err" "warning: category $cat: $o/maps.h5"
contains "$tmp/err" "recomputing"
# The same maps give the same key: regions.h5 still holds.
expect 0 run regions
contains "$tmp/err" "skipped"
# A truncated regions.h5 is recomputed with a warning.
truncate -s 100000 "$o/regions.h5"
expect 0 run regions
contains "$tmp/err" "warning: category $cat: $o/regions.h5"
contains "$tmp/err" "recomputing"
expect 0 run regions
contains "$tmp/err" "skipped"
# A truncated metrics.json: detect recomputes the category (maps.h5 belongs to it).
head -c 40 "$o/metrics.json" >"$tmp/m" && mv "$tmp/m" "$o/metrics.json"
expect 0 run detect
contains "$tmp/err" "warning: category $cat: $o/metrics.json"
contains "$tmp/err" "recomputing"
cmp -s "$o/metrics.json" <(echo) && fail "metrics.json empty"
expect 0 run detect
contains "$tmp/err" "skipped"
# A maps.h5 that is not HDF5 at all.
echo "garbage" >"$o/maps.h5"
expect 0 run detect
contains "$tmp/err" "not an HDF5 file"
contains "$tmp/err" "recomputing"

finish test_stage_keys
