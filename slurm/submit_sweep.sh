#!/usr/bin/env bash
# Submits a sweep: one array task per point (slurm/sweep.sbatch, --array=0-<n-1>) and the job that
# tables them (slurm/collect.sbatch, --dependency=afterany on the array); prints both job ids.
#   slurm/submit_sweep.sh SWEEP.yaml [sbatch arguments for the array...]
#   OUT=out/lr EXTRA="--set dataset.root=/data/mvtec" \
#     slurm/submit_sweep.sh configs/sweeps/demo_lr.yaml --ntasks=2 --gpus-per-task=1 --time=4:00:00
# The sbatch arguments go to the array job (they override sweep.sbatch's #SBATCH lines; "%5"
# style throttles work: --array is given first, so a later --array=0-9%2 replaces it);
# COLLECT_ARGS (split at spaces) go to the collect job (e.g. "--partition=short"), which needs one
# task and no GPU. The settings travel as environment variables to both jobs (sbatch's default
# --export=ALL): OUT (default out/sweep), ROOT, WEIGHTS, EXTRA, ANCD (default ./build/ancd), LAUNCH,
# SHARE (see sweep.sbatch). SWEEP is made absolute here; OUT and ANCD are used as given, relative
# to the jobs' working directory (this one unless --chdir is given).
# Prints:
#   sweep <name>: <n> points -> OUT
#   array job <id> (sweep.sbatch, tasks 0-<n-1>)
#   collect job <id> (collect.sbatch, afterany:<array id>)
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 1 ] && [ -f "$1" ] || { echo "usage: slurm/submit_sweep.sh SWEEP.yaml [sbatch arguments...]" >&2; exit 2; }
SWEEP=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
export SWEEP OUT=${OUT:-out/sweep} ANCD=${ANCD:-./build/ancd}

# The number of points, from the sweep's JSON (`ancd sweep` also checks every point's values).
json=$("$ANCD" sweep "$SWEEP" --json) || { echo "submit_sweep: ancd sweep $SWEEP failed" >&2; exit 1; }
n=$(grep -o '"n_points": *[0-9]*' <<<"$json" | grep -o '[0-9]*$')
name=$(grep -o '"name": *"[^"]*"' <<<"$json" | head -n 1 | sed 's/.*: *"//; s/"$//')
[ -n "$n" ] && [ "$n" -ge 1 ] || { echo "submit_sweep: no points in $SWEEP" >&2; exit 1; }
echo "sweep $name: $n points -> $OUT"

array=$(sbatch --parsable --array="0-$((n - 1))" "$@" "$here/sweep.sbatch") ||
  { echo "submit_sweep: sbatch sweep.sbatch failed: $array" >&2; exit 1; }
array=${array%%;*} # "id;cluster" on a federation
echo "array job $array (sweep.sbatch, tasks 0-$((n - 1)))"

# afterany, not afterok: afterok waits for every task to succeed, so a single failed point would
# leave the collect job pending for ever (DependencyNeverSatisfied); afterany runs it once every
# task has ended, whatever its state, and collect.sbatch reports the failed or missing points.
read -r -a cargs <<<"${COLLECT_ARGS:-}"
collect=$(SWEEP_JOB=$array sbatch --parsable --dependency="afterany:$array" "${cargs[@]}" \
  "$here/collect.sbatch") ||
  { echo "submit_sweep: sbatch collect.sbatch failed: $collect (the array $array is submitted)" >&2; exit 1; }
collect=${collect%%;*}
echo "collect job $collect (collect.sbatch, afterany:$array)"
