#!/usr/bin/env bash
# slurm/run.sbatch against a real Slurm (issue 12): a throw-away one-node Slurm on localhost
# (tests/slurm_lib.sh: Debian's slurm-wlm and munge, installed when missing), then
#  - the launches: `srun --mpi=pmix`, slurm/info.sbatch and `mpirun` in an allocation start 2
#    ranks of `ancd info`; `mpirun -np 1` in a 2-task allocation is refused (the world must be
#    SLURM_NTASKS);
#  - run.sbatch with 2 tasks on 2 synthetic categories (srun --mpi=pmix where Slurm has pmix):
#    COMPLETED, both tables, rank-labelled log;
#  - an uninterrupted training job (run.sbatch with LAUNCH=mpirun), and the same job stopped by
#    `scancel --signal=USR1 --batch` while it trains (what --signal=B:USR1@120 sends): it
#    checkpoints, requeues itself, resumes from the checkpoint and ends with the same model.h5,
#    bit for bit.
# Exits 77 ("skipped"), with the reason, only where the daemons cannot start.
#   slurm_run.sh H5_COMPARE
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slurm_lib.sh"
h5cmp=$1
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

slurm_test_begin slurm_run # sets sl, stops the daemons at exit; exits 77 when they cannot start
echo "slurm_run: Slurm $(sinfo -V 2>/dev/null | cut -d' ' -f2) up in $((SECONDS - t0)) s;" \
  "MPI plugins: $(srun --mpi=list 2>&1 | sed -n 's/^\t//p' | tr '\n' ' ')"
dump() { # the end of a job's log, and the daemons' logs, on a failure
  echo "--- $1" >&2
  tail -n 25 "$1" >&2
  tail -n 5 "$sl/slurmctld.log" "$sl/slurmd.log" >&2
}
# wait_job ID LOG NAME: bounded wait, then COMPLETED with exit code 0:0
wait_job() {
  slurm_wait "$1" "${4:-150}" || { fail "$3: job $1 still $job_state after ${4:-150} s"; dump "$2"; return 1; }
  [ "$job_state/$job_exit" = COMPLETED/0:0 ] ||
    { fail "$3: job $1 ended $job_state (exit $job_exit)"; dump "$2"; return 1; }
}

# The launches.
pmix=0
srun --mpi=list 2>&1 | grep -qw pmix && pmix=1
if [ $pmix = 1 ]; then
  expect 0 timeout 60 srun -n 2 --mpi=pmix --label "$ancd" info
  contains "$tmp/out" "0: mpi: *2 ranks"
else
  echo "slurm_run: srun --mpi=list has no pmix (libpmix-dev missing): run.sbatch uses mpirun"
fi
expect 0 timeout 60 salloc -n 2 mpirun -np 2 "$ancd" info
contains "$tmp/out" "mpi: *2 ranks"
expect 2 timeout 60 salloc -n 2 mpirun -np 1 "$ancd" info
contains "$tmp/err" "SLURM_NTASKS=2"

"$ancd" synth -o "$tmp/data" --categories 2 --train 1 --test-good 2 --per-type 2 -q 2>/dev/null ||
  fail "synth"
cats=$(ls "$tmp/data")
cat=$(ls "$tmp/data" | tail -n 1)
tiny="--set detect.image_size=32 --set detect.layers=[1,2] --set detect.r_list=[1] --set train.batch_size=8"
export ANCD="$ancd" CONFIG="$src/configs/demo.yaml" ROOT="$tmp/data"
# slurm/info.sbatch (2 tasks by default) on the synthetic set.
id=$(sbatch --parsable --chdir="$tmp" --output="$tmp/info.log" "$src/slurm/info.sbatch") ||
  fail "sbatch info.sbatch: $id"
wait_job "$id" "$tmp/info.log" "info.sbatch" 60 && contains "$tmp/info.log" "mpi: *2 ranks"

# submit NAME [VAR=value ...]: run.sbatch with 2 tasks, log $tmp/NAME.log
submit() {
  local name=$1
  shift
  env OUT="$tmp/$name" "$@" sbatch --parsable --ntasks=2 --time=10 --chdir="$tmp" \
    --output="$tmp/$name.log" "$src/slurm/run.sbatch"
}

# Every stage of both categories and the tables, in one job.
id=$(submit all EXTRA="$tiny --set train.epochs=1") || fail "sbatch: $id"
if wait_job "$id" "$tmp/all.log" "run.sbatch"; then
  t=$tmp/all/demo/tables.md
  contains "$t" "anomaly detection"
  contains "$t" "anomaly class discovery"
  for c in $cats; do
    [ "$(grep -c "^| $c |" "$t")" = 2 ] || fail "$t lacks a row of $c in each table"
  done
  if [ $pmix = 1 ]; then
    contains "$tmp/all.log" "srun --mpi=pmix"
    contains "$tmp/all.log" "^0: run: 2 categories in .* on 2 ranks"
  fi
fi

# Training, uninterrupted (mpirun: its launch and log labels) and stopped by USR1 then requeued.
T="$tiny --set dataset.categories=[$cat] --set train.epochs=6"
ref=$(submit ref LAUNCH=mpirun EXTRA="$T") || fail "sbatch: $ref"
id=$(submit stop EXTRA="$T") || fail "sbatch: $id"
wait_job "$ref" "$tmp/ref.log" "uninterrupted training" &&
  contains "$tmp/ref.log" "^\[1,0\]<stderr>:category $cat: trained 6 epochs"
end=$((SECONDS + 120))
until grep -q "epoch 1/6" "$tmp/stop.log" 2>/dev/null || [ $SECONDS -ge $end ]; do sleep 0.2; done
scancel --signal=USR1 --batch "$id" || fail "scancel --signal=USR1 --batch $id"
# A requeued job may start again only after Slurm's requeue delay (about 2 minutes): start it
# sooner, once the node has cleaned up (idle) and a second later: slurmd refuses a job whose
# credential is not newer (in whole seconds) than the one it revoked at the requeue ("Job
# credential revoked").
end=$((SECONDS + 60))
until [ "$(slurm_state "$id")" = PENDING ] && scontrol show job -o "$id" | grep -q " Restarts=1 " &&
  [ "$(sinfo -h -o %t)" = idle ] || [ $SECONDS -ge $end ]; do sleep 0.5; done
sleep 2
scontrol update JobId="$id" StartTime=now || fail "scontrol update StartTime=now"
if wait_job "$id" "$tmp/stop.log" "stopped training"; then
  scontrol show job -o "$id" | grep -q "Restarts=1" || fail "job $id was not requeued once"
  contains "$tmp/stop.log" "stop requested: checkpoint at epoch"
  contains "$tmp/stop.log" "step exited with status 75 after SIGUSR1"
  contains "$tmp/stop.log" "requeueing job $id"
  contains "$tmp/stop.log" "(restart 1)"
  contains "$tmp/stop.log" "resuming at epoch"
  contains "$tmp/stop.log" "trained 6 epochs"
  m=$tmp/ref/demo/$cat/model.h5
  names=$("$h5cmp" --list "$m" params 2>/dev/null)
  [ -n "$names" ] || fail "h5_compare --list found no parameters in $m"
  "$h5cmp" "$m" "$tmp/stop/demo/$cat/model.h5" 0 $names history >"$tmp/cmp" 2>&1 ||
    fail "the resumed model differs from the uninterrupted one: $(grep -v 'diff 0 ' "$tmp/cmp" | head -3)"
fi
echo "slurm_run: $((SECONDS - t0)) s"
finish slurm_run
