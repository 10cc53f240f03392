#!/usr/bin/env bash
# `ancd sweep` and `ancd collect` as a user meets them: a grid and a list of points expand to the
# points with their --set words, --index gives one point's words (for an array task), an unknown
# key or a bad value names file:line:col, an index out of range names the count (exit 2); then a
# real 3-point sweep over train.lr on a tiny synthetic set, one `ancd run -o OUT/point_<i>` per
# point, and `ancd collect` writes a row per (point, category) with the swept values; a point
# without its ncd_metrics.json is listed as missing and collect exits 1.
. "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1

# The shipped sweeps: relative base config, grid order (last key fastest), every point valid.
expect 0 "$ancd" sweep "$src/configs/sweeps/demo_grid.yaml"
contains "$tmp/out" "sweep demo_grid: 4 points (grid)"
contains "$tmp/out" "^ *3  --set train.lr=0.001 --set train.epochs=10$"
contains "$tmp/out" "^ *1  --set train.lr=0.0003 --set train.epochs=10$"
expect 0 "$ancd" sweep "$src/configs/sweeps/demo_grid.yaml" --index 2
[ "$(cat "$tmp/out")" = "$(printf -- '--set=train.lr=0.001\n--set=train.epochs=5')" ] ||
  fail "grid --index 2: $(cat "$tmp/out")"
expect 0 "$ancd" sweep "$src/configs/sweeps/demo_lr.yaml"
contains "$tmp/out" "sweep demo_lr: 3 points (points)"
expect 0 "$ancd" sweep "$src/configs/sweeps/demo_lr.yaml" --base
[ "$(cat "$tmp/out")" -ef "$src/configs/demo.yaml" ] || fail "--base: $(cat "$tmp/out")"
expect 0 "$ancd" sweep "$src/configs/sweeps/demo_lr.yaml" --index 1 --json
contains "$tmp/out" '"--set=train.lr=0.0003"'

# A list: keys a point leaves keep the base value; list values and quoted strings survive as
# one word each, and the words work as `ancd config` arguments.
cat >"$tmp/list.yaml" <<EOF
config: $src/configs/demo.yaml
points:
  - {}
  - {train.lr: 0.002, detect.r_list: [1, 3]}
  - {dataset.categories: ["a b", c], train.epochs: 2}
EOF
expect 0 "$ancd" sweep "$tmp/list.yaml"
contains "$tmp/out" "sweep list: 3 points (points)"
contains "$tmp/out" "keys: train.lr detect.r_list dataset.categories train.epochs"
contains "$tmp/out" "^ *0   (the base config)$"
expect 0 "$ancd" sweep "$tmp/list.yaml" --index 0
[ -s "$tmp/out" ] && fail "point 0 of the list has overrides: $(cat "$tmp/out")"
mapfile -t sets < <("$ancd" sweep "$tmp/list.yaml" --index 2)
[ "${#sets[@]}" = 2 ] || fail "point 2: ${#sets[@]} words, want 2: ${sets[*]}"
expect 0 "$ancd" config -c "$src/configs/demo.yaml" "${sets[@]}"
contains "$tmp/out" 'categories: \["a b", c\]'
contains "$tmp/out" "epochs: 2$"

# Errors: file:line:col of the key or value; exit 2 for an index out of range, naming the count.
printf 'config: %s\ngrid:\n  train.lr: [0.1, 0.2]\n  train.lrr: [1]\n' "$src/configs/demo.yaml" \
  >"$tmp/unknown.yaml"
expect 1 "$ancd" sweep "$tmp/unknown.yaml"
contains "$tmp/err" "unknown.yaml:4:3: train.lrr: unknown key (did you mean 'train.lr'?)"
printf 'config: %s\npoints:\n  - {train.lr: 0.1}\n  - {train.epochs: abc}\n' \
  "$src/configs/demo.yaml" >"$tmp/value.yaml"
expect 1 "$ancd" sweep "$tmp/value.yaml"
contains "$tmp/err" "value.yaml:4:20: train.epochs: expected an integer"
printf 'config: nosuch.yaml\npoints:\n  - {train.lr: 0.1}\n' >"$tmp/nobase.yaml"
expect 1 "$ancd" sweep "$tmp/nobase.yaml"
contains "$tmp/err" "nobase.yaml: config: $tmp/nosuch.yaml: cannot open config"
printf 'config: x.yaml\ngrid: {train.lr: [1], train.lr: [2]}\n' >"$tmp/twice.yaml"
expect 1 "$ancd" sweep "$tmp/twice.yaml"
contains "$tmp/err" "twice.yaml:2:23: train.lr: given twice"
printf 'config: x.yaml\n' >"$tmp/empty.yaml"
expect 1 "$ancd" sweep "$tmp/empty.yaml"
contains "$tmp/err" "either grid: or points: (neither is given)"
expect 2 "$ancd" sweep "$src/configs/sweeps/demo_grid.yaml" --index 4
contains "$tmp/err" "out of range: the sweep has 4 points (0 to 3)"
expect 2 "$ancd" sweep "$src/configs/sweeps/demo_lr.yaml" --index -1
contains "$tmp/err" "the sweep has 3 points"
expect 2 "$ancd" sweep
expect 2 "$ancd" collect "$src/configs/sweeps/demo_lr.yaml"
contains "$tmp/err" "-o OUT"

# A real sweep: 3 points over train.lr, the tiny settings of test_run.sh in the base config.
"$ancd" synth -o "$tmp/data" --categories 2 --train 1 --test-good 2 --per-type 2 -q 2>/dev/null ||
  fail "synth"
cat >"$tmp/base.yaml" <<EOF
dataset: {name: demo, layout: mvtec, root: $tmp/data}
backbone: {weights: random, arch: vit_tiny_patch16}
detect: {image_size: 32, layers: [1, 2], r_list: [1]}
train: {epochs: 1, batch_size: 8, lr: 0.0003, proto_init: kmeans}
seed: 42
EOF
cat >"$tmp/lr.yaml" <<EOF
name: lr
config: base.yaml
points:
  - {train.lr: 0.0001}
  - {train.lr: 0.0003}
  - {train.lr: 0.003}
EOF
n=$("$ancd" sweep "$tmp/lr.yaml" --json | sed -n 's/^  "n_points": \([0-9]*\),$/\1/p')
[ "$n" = 3 ] || fail "--json n_points: '$n'"
for i in 0 1 2; do # what slurm/sweep.sbatch does per array task
  mapfile -t sets < <("$ancd" sweep "$tmp/lr.yaml" --index $i)
  if [ "$i" -gt 0 ]; then # share point 0's stage files: detect and regions are skipped
    for c in $(ls "$tmp/data"); do
      mkdir -p "$tmp/s/point_$i/demo/$c"
      ln "$tmp/s/point_0/demo/$c/"{maps.h5,metrics.json,regions.h5} "$tmp/s/point_$i/demo/$c/" ||
        fail "link point 0's stage files"
    done
  fi
  expect 0 "$ancd" run -c "$("$ancd" sweep "$tmp/lr.yaml" --base)" "${sets[@]}" -o "$tmp/s/point_$i"
done
contains "$tmp/err" "run: [a-z]* *skipped *skipped *ok .* ok "
expect 0 "$ancd" collect "$tmp/lr.yaml" -o "$tmp/s"
csv="$tmp/s/sweep.csv"
header=point,train.lr,category,auroc_cls,f1max_cls,ap_cls,auroc_px,f1max_px,ap_px,aupro,nmi,ari
[ "$(head -1 "$csv")" = "$header,f1,status" ] ||
  fail "sweep.csv header: $(head -1 "$csv")"
[ "$(wc -l <"$csv")" = 7 ] ||
  fail "sweep.csv: $(wc -l <"$csv") lines, want 3 points x 2 categories + the header"
for c in $(ls "$tmp/data"); do
  for pv in 0,0.0001 1,0.0003 2,0.003; do
    grep -Eq "^$pv,$c,([0-9.]+,){10}ok$" "$csv" ||
      fail "sweep.csv lacks a full row $pv,$c: $(cat "$csv")"
  done
done
contains "$tmp/s/sweep.md" "## Best point per metric"
contains "$tmp/s/sweep.md" "| Point | train.lr | Category | AUROC-cls |"
lacks "$tmp/s/sweep.md" "## Missing"
grep -Eq '^\| NMI \| [0-2] \| 0\.00[0-9]* \| [0-9.]+ \|' "$tmp/s/sweep.md" ||
  fail "sweep.md: no best point for NMI"
# The AD metrics come from the same maps.h5: every point ties with point 0.
grep -q '^| AUROC-cls | 0 | 0.0001 | [0-9.]* | 1, 2 |$' "$tmp/s/sweep.md" ||
  fail "sweep.md: AUROC-cls not tied over the points"

# A point without its ncd_metrics.json: listed, its AD metrics kept, no best for it, exit 1.
c1=$(ls "$tmp/data" | head -1)
rm "$tmp/s/point_1/demo/$c1/ncd_metrics.json"
expect 1 "$ancd" collect "$tmp/lr.yaml" -o "$tmp/s"
contains "$tmp/s/sweep.md" "## Missing"
contains "$tmp/s/sweep.md" "point 1, $c1: ncd_metrics.json missing"
contains "$tmp/err" "1 of 6 (point, category) rows lack files"
grep -Eq "^1,0.0003,$c1,([0-9.]+,){7},,,missing ncd_metrics.json$" "$csv" ||
  fail "sweep.csv: point 1 $c1 not marked missing: $(cat "$csv")"
[ "$(wc -l <"$csv")" = 7 ] || fail "sweep.csv dropped a row"
grep -q '^| 1 | 0.0003 | no |' "$tmp/s/sweep.md" || fail "sweep.md: point 1 not incomplete"
# Results of other values (a stale folder) are not reported as this point's.
expect 1 "$ancd" collect "$tmp/lr.yaml" -o "$tmp/s" --set train.epochs=2
contains "$tmp/s/sweep.md" "ncd_metrics.json is stale"

finish test_sweep
