#!/usr/bin/env bash
# A sweep as a Slurm job array against a real Slurm (issue 12): a throw-away one-node Slurm on
# localhost (tests/slurm_lib.sh), then slurm/submit_sweep.sh submits a 3-point sweep over train.lr
# of the demo config on a tiny synthetic set (slurm/sweep.sbatch, one task per point, 2 at once on
# a 2-CPU node) and the collect job (afterany); the test waits for the collect job with a bound and
# checks
#  - every array task and the collect job COMPLETED; OUT/sweep.csv has 3 points x 2 categories
#    with the swept lr values and status ok, the collect log names the table;
#  - the shared stages ran once: exactly one task's log computed detect and regions (into
#    OUT/shared/<h>), the others skipped them there, every point's run skipped detect and regions,
#    and its maps.h5 and regions.h5 are hard links of the shared ones;
#  - collect.sbatch on a 4-point sweep of which only 3 ran: exit 1, point 3 listed as missing;
#  - an array task sent USR1 while it trains checkpoints, requeues itself and resumes.
# Exits 77 ("skipped"), with the reason, only where the daemons cannot start.
#   slurm_sweep.sh
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slurm_lib.sh"
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

slurm_test_begin slurm_sweep # sets sl, stops the daemons at exit; exits 77 when they cannot start
echo "slurm_sweep: Slurm $(sinfo -V 2>/dev/null | cut -d' ' -f2) up in $((SECONDS - t0)) s;" \
  "launch: $(slurm_launcher)"
dump() { # the end of a log, and the daemons' logs, on a failure
  echo "--- $1" >&2
  tail -n 25 "$1" >&2
  tail -n 5 "$sl/slurmctld.log" "$sl/slurmd.log" >&2
}

"$ancd" synth -o "$tmp/data" --categories 2 --train 1 --test-good 2 --per-type 2 -q 2>/dev/null ||
  fail "synth"
cats=$(ls "$tmp/data")
cat >"$tmp/lr.yaml" <<EOF
name: lr
config: $src/configs/demo.yaml
points:
  - {train.lr: 0.0001}
  - {train.lr: 0.0003}
  - {train.lr: 0.003}
EOF
out=$tmp/sweep
export ANCD="$ancd" OUT="$out" COLLECT_ARGS="--chdir=$tmp"
export EXTRA="--set detect.image_size=32 --set detect.layers=[1,2] --set detect.r_list=[1]
 --set train.epochs=1 --set train.batch_size=8 --set dataset.root=$tmp/data"
EXTRA=$(tr '\n' ' ' <<<"$EXTRA")

ts=$SECONDS
expect 0 bash "$src/slurm/submit_sweep.sh" "$tmp/lr.yaml" --chdir="$tmp" --time=10
cp "$tmp/out" "$tmp/submit.out"
contains "$tmp/submit.out" "^sweep lr: 3 points -> $out$"
arr=$(sed -n 's/^array job \([0-9]*\) (sweep.sbatch, tasks 0-2)$/\1/p' "$tmp/submit.out")
col=$(sed -n 's/^collect job \([0-9]*\) (collect.sbatch, afterany:\([0-9]*\))$/\1/p' "$tmp/submit.out")
[ -n "$arr" ] && [ -n "$col" ] || { fail "submit_sweep.sh printed no job ids: $(cat "$tmp/submit.out")"; finish slurm_sweep; exit; }
scontrol show job -o "$col" | grep -q "Dependency=afterany:${arr}_\*" ||
  scontrol show job -o "$col" | grep -q "Dependency=afterany:$arr" ||
  fail "collect job $col: no afterany dependency on $arr: $(scontrol show job -o "$col" | grep -o 'Dependency=[^ ]*')"

clog=$tmp/ancd-collect-$col.out
if ! slurm_wait "$col" 150; then
  fail "collect job $col still $job_state after 150 s"
  for i in 0 1 2; do dump "$tmp/ancd-sweep-${arr}_$i.out"; done
elif [ "$job_state/$job_exit" != COMPLETED/0:0 ]; then
  fail "collect job $col ended $job_state (exit $job_exit)"
  dump "$clog"
  for i in 0 1 2; do dump "$tmp/ancd-sweep-${arr}_$i.out"; done
fi
echo "slurm_sweep: the array and collect ended $((SECONDS - ts)) s after the submission"
for i in 0 1 2; do
  st=$(scontrol show job -o "${arr}_$i" | grep -o 'JobState=[A-Z_]* .*ExitCode=[0-9:]*' |
    sed 's/JobState=\([A-Z_]*\) .*ExitCode=/\1 /')
  [ "$st" = "COMPLETED 0:0" ] || { fail "array task ${arr}_$i: $st"; dump "$tmp/ancd-sweep-${arr}_$i.out"; }
done

# The table: 3 points x 2 categories, the swept values, every row complete.
csv=$out/sweep.csv
[ "$(wc -l <"$csv" 2>/dev/null)" = 7 ] ||
  fail "$csv: $(wc -l <"$csv" 2>/dev/null) lines, want 3 points x 2 categories + the header"
head -1 "$csv" 2>/dev/null | grep -q "^point,train.lr,category," || fail "$csv header: $(head -1 "$csv" 2>/dev/null)"
for c in $cats; do
  for pv in 0,0.0001 1,0.0003 2,0.003; do
    grep -Eq "^$pv,$c,([0-9.]+,){10}ok$" "$csv" 2>/dev/null || fail "$csv lacks a full row $pv,$c"
  done
done
contains "$out/sweep.md" "## Best point per metric"
contains "$clog" "array job $arr: every task completed"
contains "$clog" "every point complete: $out/sweep.md, $out/sweep.csv (exit 0)"

# The shared stages: computed by one task, skipped by the others and by every point's run.
computed=0
for i in 0 1 2; do
  # without mpirun's labels, which may split a line (LAUNCH=mpirun where srun lacks pmix)
  log=$tmp/clean_$i.log
  sed 's/\[[0-9]*,[0-9]*\]<std[a-z]*>://g' "$tmp/ancd-sweep-${arr}_$i.out" >"$log"
  contains "$log" "holding $out/shared/[0-9a-f]*.lock"
  grep -q "test images on 1 rank" "$log" && computed=$((computed + 1))
  for c in $cats; do
    grep -Eq "^(0: )?run: $c +skipped +skipped +ok" "$log" ||
      fail "point $i: its run did not skip detect and regions of $c: $(grep "run: $c" "$log")"
  done
done
[ "$computed" = 1 ] || fail "the shared detect ran in $computed tasks' logs, want exactly 1"
skipped=$(grep -l "skipped (complete: $out/shared/[0-9a-f]*/demo/[a-z]*/maps.h5" \
  "$tmp"/clean_*.log | wc -l)
[ "$skipped" = 2 ] || fail "$skipped tasks found the shared maps complete, want 2"
shared=$(ls -d "$out"/shared/*/ 2>/dev/null)
[ "$(wc -l <<<"$shared")" = 1 ] || fail "want one shared folder: $shared"
shared=${shared%/}
for i in 0 1 2; do
  for c in $cats; do
    for f in maps.h5 metrics.json regions.h5; do
      [ "$out/point_$i/demo/$c/$f" -ef "$shared/demo/$c/$f" ] ||
        fail "point $i: $c/$f is not a link of $shared/demo/$c/$f"
    done
  done
done

# collect.sbatch on a sweep with a point that never ran: exit 1, the point listed.
cat >"$tmp/lr4.yaml" <<EOF
name: lr4
config: $src/configs/demo.yaml
points:
  - {train.lr: 0.0001}
  - {train.lr: 0.0003}
  - {train.lr: 0.003}
  - {train.lr: 0.01}
EOF
id=$(SWEEP=$tmp/lr4.yaml SWEEP_JOB=$arr sbatch --parsable --chdir="$tmp" --output="$tmp/collect4.log" \
  "$src/slurm/collect.sbatch") || fail "sbatch collect.sbatch: $id"
if slurm_wait "$id" 60; then
  [ "$job_state/$job_exit" = FAILED/1:0 ] || { fail "collect of lr4: $job_state $job_exit, want FAILED 1:0"; dump "$tmp/collect4.log"; }
  contains "$tmp/collect4.log" "point 3, [a-z]*: metrics.json missing"
  contains "$tmp/collect4.log" "points missing or failed"
else
  fail "collect of lr4 still $job_state after 60 s"
fi
# Preemption of an array task: USR1 (what --signal=B:USR1@120 sends) while it trains checkpoints,
# the task requeues itself and its rerun resumes from the checkpoint.
cat=$(ls "$tmp/data" | tail -n 1)
printf 'name: one\nconfig: %s\npoints:\n  - {train.lr: 0.0003}\n' "$src/configs/demo.yaml" >"$tmp/one.yaml"
id=$(SWEEP=$tmp/one.yaml OUT=$tmp/stop EXTRA="$EXTRA --set train.epochs=6 --set dataset.categories=[$cat]" \
  sbatch --parsable --array=0 --time=10 --chdir="$tmp" "$src/slurm/sweep.sbatch") || fail "sbatch sweep.sbatch: $id"
task=${id}_0
log=$tmp/ancd-sweep-${task}.out
end=$((SECONDS + 90))
until grep -q "epoch 1/6" "$log" 2>/dev/null || [ $SECONDS -ge $end ]; do sleep 0.2; done
scancel --signal=USR1 --batch "$task" || fail "scancel --signal=USR1 --batch $task"
# As in slurm_run.sh: start the requeued task once the node is idle and a second has passed,
# not after Slurm's requeue delay.
end=$((SECONDS + 60))
until [ "$(slurm_state "$task")" = PENDING ] && scontrol show job -o "$task" | grep -q " Restarts=1 " &&
  [ "$(sinfo -h -o %t)" = idle ] || [ $SECONDS -ge $end ]; do sleep 0.5; done
sleep 2
scontrol update JobId="$task" StartTime=now || fail "scontrol update $task StartTime=now"
if ! slurm_wait "$task" 90; then
  fail "requeued task $task still $job_state after 90 s"
  dump "$log"
elif [ "$job_state/$job_exit" != COMPLETED/0:0 ]; then
  fail "requeued task $task ended $job_state (exit $job_exit)"
  dump "$log"
else
  contains "$log" "stop requested: checkpoint at epoch"
  contains "$log" "the step exited with status 75 after SIGUSR1"
  contains "$log" "training checkpointed; requeueing job $task"
  contains "$log" "job $task (restart 1)"
  contains "$log" "resuming at epoch"
  contains "$log" "trained 6 epochs"
fi
echo "slurm_sweep: $((SECONDS - t0)) s"
finish slurm_sweep
