#!/usr/bin/env bash
# The ancd binary as a user meets it: --help on every job, exit codes, error messages that name
# the file, not-implemented jobs, synth + info + config end to end on a small synthetic set.
. "$(dirname "$0")/lib.sh"

expect 0 "$ancd" --help
contains "$tmp/out" "synth"
expect 2 "$ancd"
expect 2 "$ancd" nosuchjob
contains "$tmp/err" "unknown job 'nosuchjob'"
for job in detect regions base train classify run report sweep collect synth bench info config; do
  "$ancd" "$job" --help >"$tmp/out" 2>&1
  code=$?
  if grep -q "not implemented yet" "$tmp/out"; then
    [ "$code" = 2 ] || fail "$job --help (not implemented) exited $code, want 2"
  else
    [ "$code" = 0 ] || fail "$job --help exited $code"
    contains "$tmp/out" "usage: ancd $job"
  fi
done
for job in detect regions train classify run report; do
  expect 2 "$ancd" "$job"
  contains "$tmp/err" "ancd $job: -c CONFIG is needed"
done
expect 2 "$ancd" config --bogus
contains "$tmp/err" "unknown option '--bogus'"

# Config errors: file:line:col and the key; exit 1 for a bad file, 2 for a bad --set.
printf 'dataset:\n  layout: mvtec\ndetect:\n  image_size: 224\n  r_lst: [1, 3]\n' >"$tmp/bad.yaml"
expect 1 "$ancd" config -c "$tmp/bad.yaml"
contains "$tmp/err" "bad.yaml:5:3"
contains "$tmp/err" "detect.r_lst"
expect 2 "$ancd" config --set detect.image_size=abc
contains "$tmp/err" "detect.image_size"
expect 1 "$ancd" config -c "$tmp/missing.yaml"
contains "$tmp/err" "missing.yaml"
expect 0 "$ancd" config -c "$src/configs/mtd.yaml" --set detect.r_list=[1,3]
contains "$tmp/out" "hash "
grep -A30 '^detect:' "$tmp/out" | grep -q 'r_list: \[1, 3\]' || fail "--set list not in the resolved config"
expect 0 "$ancd" config --doc
# The README's config reference is this output: every key row must be there verbatim.
grep '^| `' "$tmp/out" | while IFS= read -r row; do
  grep -qF -- "$row" "$src/README.md" || { echo "README lacks: $row"; exit 1; }
done || fail "README config reference is stale: paste 'ancd config --doc' into it"
contains "$tmp/out" "detect.r_list"

# Weights: the architecture is inferred and printed; a bad file is an input error naming it.
expect 0 "$ancd" info --weights "$src/tests/golden/vit/timm_vit.safetensors"
contains "$tmp/out" "timm ViT: dim 64, depth 3"
head -c 200 "$src/tests/golden/vit/timm_vit.safetensors" >"$tmp/cut.safetensors"
expect 1 "$ancd" info --weights "$tmp/cut.safetensors"
contains "$tmp/err" "cut.safetensors"
expect 2 "$ancd" bench nosuch
expect 0 "$ancd" bench gemm --json --repeat 1 --set device=cpu
grep -q '"sgemm_gflops"' "$tmp/out" || fail "bench --json lacks sgemm_gflops"

# synth -> info on the result; the same seed twice gives identical files.
expect 0 "$ancd" synth -o "$tmp/a" --categories 1 --train 2 --test-good 2 --per-type 2 --seed 3
expect 0 "$ancd" synth -o "$tmp/b" --categories 1 --train 2 --test-good 2 --per-type 2 --seed 3
diff -r "$tmp/a" "$tmp/b" >/dev/null || fail "synth with the same seed differs"
expect 0 "$ancd" info -c "$src/configs/demo.yaml" --set dataset.root="$tmp/a"
contains "$tmp/out" "libraries:"
contains "$tmp/out" "dataset: "
expect 2 "$ancd" synth --categories 0 -o "$tmp/c"

# A corrupt image: info names the file and fails the category (max_bad_fraction 0) ...
cat=$(ls "$tmp/a" | head -1)
victim=$(ls "$tmp/a/$cat/test/good/" | head -1)
head -c 100 "$tmp/a/$cat/test/good/$victim" >"$tmp/a/$cat/test/good/$victim.tmp"
mv "$tmp/a/$cat/test/good/$victim.tmp" "$tmp/a/$cat/test/good/$victim"
expect 1 "$ancd" info -c "$src/configs/demo.yaml" --set dataset.root="$tmp/a"
grep -q "$victim" "$tmp/err" "$tmp/out" || fail "info does not name the corrupt file"
# ... and passes when the config tolerates it.
expect 0 "$ancd" info -c "$src/configs/demo.yaml" --set dataset.root="$tmp/a" --set io.max_bad_fraction=0.5

finish test_cli
