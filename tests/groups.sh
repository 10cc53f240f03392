#!/usr/bin/env bash
# parallel.group_size (DESIGN "Distribution": groups take categories round-robin): on 3 synthetic
# categories, 2 ranks in groups of 1 give the same maps.h5, regions.h5 and tables as 1 rank, and
# every category is processed exactly once: every output exists, and the images the groups
# report together (summed over the groups' rank 0) are the 1-rank run's count, not more.
#   groups.sh H5_COMPARE MPIEXEC
. "$(dirname "$0")/lib.sh"
h5cmp=${1:?usage: groups.sh H5_COMPARE MPIEXEC}
mpiexec=${2:?usage: groups.sh H5_COMPARE MPIEXEC}
export OMP_NUM_THREADS=1 # ranks share the machine's cores; the same threads give the same bits

"$ancd" synth -o "$tmp/data" --categories 3 --train 1 --test-good 2 --per-type 1 -q \
  2>"$tmp/synth.log" || { echo "FAIL: synth: $(tail -3 "$tmp/synth.log")" >&2; exit 1; }
cats=$(ls "$tmp/data")
[ "$(echo "$cats" | wc -l)" = 3 ] || { echo "FAIL: synth made $(echo $cats) (want 3)" >&2; exit 1; }
common=(-c "$src/configs/demo.yaml" --set dataset.root="$tmp/data" --set detect.image_size=64
        --set detect.layers=[1,2] --set detect.r_list=[1,3] --set detect.batch_size=2)

# run NAME NP JOB [ARGS...]: the job on NP ranks into $tmp/NAME, its log in $tmp/NAME.JOB.log
run() {
  local name=$1 np=$2 job=$3; shift 3
  "$mpiexec" -np "$np" --allow-run-as-root --oversubscribe "$ancd" "$job" "${common[@]}" "$@" \
    -o "$tmp/$name" >"$tmp/$name.$job.log" 2>&1 ||
    fail "$job on $np ranks ($name): $(tail -5 "$tmp/$name.$job.log")"
}
# images JOB LOG: the number in the job's closing "JOB: N images in" line
images() { sed -n "s/^.*$1: \([0-9]*\) images in .*$/\1/p" "$2" | tail -1; }

for job in detect regions; do
  run one 1 "$job"
  run groups 2 "$job" --set parallel.group_size=1
  n1=$(images "$job" "$tmp/one.$job.log") n2=$(images "$job" "$tmp/groups.$job.log")
  [ -n "$n1" ] && [ "$n1" -gt 0 ] || fail "$job on 1 rank: no image count in its log"
  [ "$n1" = "$n2" ] ||
    fail "$job: 2 groups processed $n2 images, 1 rank $n1 (a category run twice or not at all)"
done

for cat in $cats; do
  a=$tmp/one/demo/$cat b=$tmp/groups/demo/$cat
  for f in maps.h5 regions.h5 metrics.json; do
    [ -f "$b/$f" ] || fail "2 groups: no $cat/$f"
  done
  "$h5cmp" "$a/maps.h5" "$b/maps.h5" 0 maps scores scores_rscin labels masks >"$tmp/cmp" 2>&1 ||
    fail "$cat: maps.h5 differs: $(grep -v 'diff 0 ' "$tmp/cmp" | head -5)"
  "$h5cmp" "$a/regions.h5" "$b/regions.h5" 0 threshold est n_crops image_height image_width \
    labels image_index box crop_box_int crop_height crop_width mask_area score crop_offset \
    mask_offset crop_pixels mask_pixels >"$tmp/cmp" 2>&1 ||
    fail "$cat: regions.h5 differs: $(grep -v 'diff 0 ' "$tmp/cmp" | head -5)"
  # The config hash covers parallel.group_size: everything else must match.
  diff <(grep -v config_hash "$a/metrics.json") <(grep -v config_hash "$b/metrics.json") \
    >/dev/null || fail "$cat: metrics.json differs"
done
for f in tables.md tables.csv; do
  cmp -s "$tmp/one/demo/$f" "$tmp/groups/demo/$f" || fail "$f differs"
done

finish groups
