#!/usr/bin/env bash
# `ancd run` and `ancd classify` as a user meets them (issue 11): every stage of every category in
# one job, results.h5 / ncd_metrics.json / the class-discovery table, a rerun skips everything, a
# classify key recomputes classify only, a failing category is reported with its stage and reason
# while the others finish (exit 1), classify without a model names the missing file, and
# `ancd report` rebuilds both tables.
. "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1

"$ancd" synth -o "$tmp/data" --categories 2 --train 1 --test-good 2 --per-type 2 -q 2>/dev/null ||
  fail "synth"
run() { # run JOB OUT [--set ...]
  local job=$1 out=$2; shift 2
  "$ancd" "$job" -c "$src/configs/demo.yaml" --set dataset.root="$tmp/data" \
    --set detect.image_size=32 --set detect.layers=[1,2] --set detect.r_list=[1] \
    --set train.epochs=1 --set train.batch_size=8 -o "$out" "$@"
}
cats=$(ls "$tmp/data")
set -- $cats
c1=$1 c2=$2

expect 0 run run "$tmp/o"
for c in $cats; do
  for f in maps.h5 regions.h5 model.h5 results.h5 ncd_metrics.json metrics.json confusion.png \
    gallery.png; do
    [ -f "$tmp/o/demo/$c/$f" ] || fail "run wrote no $c/$f"
  done
  for f in confusion.png gallery.png; do # a PNG signature, more than a header
    [ "$(head -c 8 "$tmp/o/demo/$c/$f" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] ||
      fail "$c/$f is not a PNG"
    [ "$(stat -c %s "$tmp/o/demo/$c/$f")" -gt 1000 ] || fail "$c/$f is nearly empty"
  done
  j="$tmp/o/demo/$c/ncd_metrics.json"
  contains "$j" '"n_images": 12'
  contains "$j" '"n_novel": 6'
  grep -Eq '"k_estimated": [2-9]' "$j" || fail "$j: no K estimate in 2..9 beside the oracle K"
  [ "$(grep -c '"head":' "$j")" = 5 ] || fail "$j: not the reported head and 4 heads"
  # every score of the reported head is a number in [-1, 1] (ARI may be negative)
  python_free_check=$(sed -n '/"image": {/,/}/p' "$j" | grep -E '"(nmi|ari|f1)": -?[01](\.[0-9e-]+)?,?$' | wc -l)
  [ "$python_free_check" -ge 3 ] || fail "$j: image nmi/ari/f1 are not numbers in [-1, 1]"
done
contains "$tmp/o/demo/tables.md" "anomaly class discovery"
contains "$tmp/o/demo/tables.md" "| \*\*Mean\*\* |"
contains "$tmp/o/demo/report.md" "anomaly class discovery"
contains "$tmp/o/demo/report.md" "($c2/confusion.png)"
contains "$tmp/o/demo/report.md" "($c1/gallery.png)"
[ "$(head -1 "$tmp/o/demo/ncd_tables.csv")" = "Category,NMI,ARI,F1,AUPRO,K,K estimated,Images" ] ||
  fail "ncd_tables.csv header: $(head -1 "$tmp/o/demo/ncd_tables.csv")"
[ "$(wc -l <"$tmp/o/demo/ncd_tables.csv")" = 4 ] || fail "ncd_tables.csv: not 2 categories + mean"
contains "$tmp/err" "run: $c1 .*ok.*ok.*ok.*ok"

# train.n_novel: 0 trains with the estimated K (the types give 6);
# train.proto_init: kmeans says where the prototypes start.
expect 0 run run "$tmp/k" --set dataset.categories=[$c1] --set train.n_novel=0 \
  --set train.proto_init=kmeans
contains "$tmp/err" "novel prototypes start at the k-means centres of 12 crops"
k=$(sed -n 's/.*"k_estimated": \([0-9]*\).*/\1/p' "$tmp/k/demo/$c1/ncd_metrics.json")
contains "$tmp/k/demo/$c1/ncd_metrics.json" "\"n_novel\": $k,"
contains "$tmp/err" "K estimated $k (eigengap over k = 2..10 of"

# A rerun skips every stage of every category.
expect 0 run run "$tmp/o"
contains "$tmp/err" "run: $c1 *skipped *skipped *skipped *skipped"
contains "$tmp/err" "run: $c2 *skipped *skipped *skipped *skipped"
# A classify key recomputes classify only.
expect 0 run run "$tmp/o" --set classify.merge_temperature=7
contains "$tmp/err" "run: $c1 *skipped *skipped *skipped *ok"

# A category whose images are corrupt fails in detect; the other one finishes; exit 1 at the end.
cp -r "$tmp/data" "$tmp/bad"
for f in "$tmp/bad/$c1"/test/*/*.png; do echo "not a png" >"$f"; done
"$ancd" run -c "$src/configs/demo.yaml" --set dataset.root="$tmp/bad" --set detect.image_size=32 \
  --set detect.layers=[1,2] --set detect.r_list=[1] --set train.epochs=1 \
  --set train.batch_size=8 -o "$tmp/b" >"$tmp/out" 2>"$tmp/err"
[ $? = 1 ] || fail "a failing category: exit status $?, want 1"
contains "$tmp/err" "run: $c1 *FAILED *not run *not run *not run"
contains "$tmp/err" "run: $c2 .*ok.*ok.*ok.*ok"
contains "$tmp/err" "category $c1 failed in detect: .*files bad"
contains "$tmp/err" "1 of 2 categories failed"
[ -f "$tmp/b/demo/$c2/results.h5" ] || fail "the good category has no results.h5"

# classify without a model names what is missing; report rebuilds both tables.
mkdir -p "$tmp/n/demo" && cp -r "$tmp/o/demo/$c1" "$tmp/n/demo/" && rm "$tmp/n/demo/$c1/model.h5"
expect 1 run classify "$tmp/n" --set dataset.categories=[$c1]
contains "$tmp/err" "model.h5 is missing: run \`ancd train\` first"
rm "$tmp/o/demo/tables.md" "$tmp/o/demo/ncd_tables.csv"
expect 0 run report "$tmp/o"
contains "$tmp/o/demo/tables.md" "anomaly class discovery"
[ -f "$tmp/o/demo/ncd_tables.csv" ] || fail "report wrote no ncd_tables.csv"
finish test_run
