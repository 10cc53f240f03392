#!/usr/bin/env bash
# `ancd train` as a user meets it (issue 10): a base set from `ancd base`, model.h5 and the loss
# curves, a rerun skips; a run stopped by SIGUSR1 (what a preempted Slurm job receives) or killed
# by SIGKILL resumes and ends with the parameters of an uninterrupted run, bit for bit; 2 ranks
# x 4 samples give the parameters of 1 rank x 8 within 1e-5; bad input is a clear error.
#   train_resume.sh H5_COMPARE MPIEXEC
. "$(dirname "$0")/lib.sh"
h5cmp=$1
mpiexec=$2
export OMP_NUM_THREADS=1

"$ancd" synth -o "$tmp/data" --categories 1 --train 1 --test-good 3 --per-type 3 -q 2>/dev/null ||
  fail "synth"
cat=$(ls "$tmp/data")
run() { # run JOB OUT [--set ...]
  local job=$1 out=$2; shift 2
  "$ancd" "$job" -c "$src/configs/demo.yaml" --set dataset.root="$tmp/data" \
    --set detect.image_size=32 --set detect.layers=[1,2] --set detect.r_list=[1] -o "$out" "$@"
}
expect 0 run detect "$tmp/o"
expect 0 run regions "$tmp/o"
# A base set: the ground-truth crops of the same synthetic types, renamed so that no base class
# is also a novel type.
expect 0 run base "$tmp/o" --export "$tmp/basef"
[ -f "$tmp/o/demo/base.h5" ] || fail "ancd base wrote no base.h5"
for d in images masks; do
  for c in "$tmp/basef/$d"/*; do mv "$c" "$(dirname "$c")/base_$(basename "$c")"; done
done
for o in u i k r2; do mkdir -p "$tmp/$o/demo" && cp -r "$tmp/o/demo/$cat" "$tmp/$o/demo/"; done
T=(--set train.epochs=5 --set train.batch_size=8 --set train.checkpoint_every=1
  --set train.base="$tmp/basef")

# Uninterrupted.
expect 0 run train "$tmp/u" "${T[@]}"
m="$tmp/u/demo/$cat"
[ -f "$m/model.h5" ] || fail "no model.h5"
grep -q "<polyline" "$m/train_curves.svg" 2>/dev/null || fail "no loss curves in train_curves.svg"
contains "$tmp/err" "epoch 5/5"
contains "$tmp/err" "(5 classes)"
contains "$tmp/err" "head "
expect 0 run train "$tmp/u" "${T[@]}"
contains "$tmp/err" "skipped (complete"
# A later stage's key does not retrain; a training key does.
expect 0 run train "$tmp/u" "${T[@]}" --set classify.merge_temperature=3
contains "$tmp/err" "skipped"

names=$("$h5cmp" --list "$m/model.h5" params 2>/dev/null)
[ -n "$names" ] || fail "h5_compare --list found no parameters"
same() { # same A B TOL: every parameter and the history
  "$h5cmp" "$1/demo/$cat/model.h5" "$2/demo/$cat/model.h5" "$3" $names history >"$tmp/cmp" 2>&1 ||
    fail "$1 and $2 differ: $(grep -v 'diff 0 ' "$tmp/cmp" | head -3)"
}

# Stopped by SIGUSR1 after the first epoch, then resumed.
bg() { # bg OUT.err ...: ancd train in the background, $! its own pid (not a subshell's)
  local err=$1; shift
  (exec "$ancd" train -c "$src/configs/demo.yaml" --set dataset.root="$tmp/data" \
    --set detect.image_size=32 --set detect.layers=[1,2] --set detect.r_list=[1] "$@" 2>"$err") &
}
bg "$tmp/i.err" -o "$tmp/i" "${T[@]}"
pid=$!
for _ in $(seq 600); do grep -q "epoch 1/5" "$tmp/i.err" && break; sleep 0.05; done
kill -USR1 $pid
wait $pid
rc=$?
[ "$rc" = 75 ] || fail "SIGUSR1: exit $rc, want 75: $(tail -3 "$tmp/i.err")"
grep -q "stop requested" "$tmp/i.err" || fail "no stop message: $(tail -3 "$tmp/i.err")"
expect 0 run train "$tmp/i" "${T[@]}"
contains "$tmp/err" "resuming at epoch"
same "$tmp/u" "$tmp/i" 0

# Killed (SIGKILL) after epoch 2: resumes from the epoch-2 checkpoint.
bg "$tmp/k.err" -o "$tmp/k" "${T[@]}"
pid=$!
for _ in $(seq 600); do grep -q "epoch 2/5" "$tmp/k.err" && break; sleep 0.05; done
kill -KILL $pid
wait $pid 2>/dev/null
expect 0 run train "$tmp/k" "${T[@]}"
contains "$tmp/err" "resuming at epoch"
same "$tmp/u" "$tmp/k" 0

# 2 ranks x 4 samples per step.
expect 0 "$mpiexec" -np 2 --allow-run-as-root --oversubscribe "$ancd" train -c "$src/configs/demo.yaml" \
  --set dataset.root="$tmp/data" --set detect.image_size=32 --set detect.layers=[1,2] \
  --set detect.r_list=[1] -o "$tmp/r2" "${T[@]}"
same "$tmp/u" "$tmp/r2" 1e-5

# Bad input.
expect 2 "$mpiexec" -np 2 --allow-run-as-root --oversubscribe "$ancd" train -c "$src/configs/demo.yaml" \
  --set dataset.root="$tmp/data" -o "$tmp/r2" --set train.batch_size=7
contains "$tmp/err" "not a multiple of the 2 ranks"
expect 1 run train "$tmp/e1" "${T[@]}"
contains "$tmp/err" "is missing: run \`ancd regions\` first"
expect 1 run train "$tmp/o" "${T[@]}" --set train.base="$tmp/o/demo/base.h5"
contains "$tmp/err" "is also a type of"
expect 1 run train "$tmp/o" "${T[@]}" --set train.n_novel=1
contains "$tmp/err" "K = 1 novel class"
expect 2 run train "$tmp/o" "${T[@]}" --set train.grad_from_block=13
contains "$tmp/err" "train.grad_from_block 13: the backbone has 12 blocks"
expect 1 run train "$tmp/o" "${T[@]}" --set train.base="$tmp/nowhere"
contains "$tmp/err" "train.base"

finish train_resume
