# shellcheck shell=bash
# A throw-away one-node Slurm on localhost for the Slurm tests (issue 12): Debian's slurm-wlm
# (slurmctld, slurmd, 22.05 on Debian 12) and munge, every file of it in one folder, the
# daemons run as root on free ports so that two test runs or a system Slurm do not collide.
# Source it and call the functions, or run it by hand:
#   bash tests/slurm_lib.sh start DIR   # prints `export SLURM_CONF=DIR/slurm.conf`
#   bash tests/slurm_lib.sh stop DIR
# slurm_start DIR: installs what is missing, starts munged, slurmctld and slurmd, waits until
#   the node is idle, exports SLURM_CONF; returns 1 with the reason in $slurm_reason otherwise.
# slurm_stop DIR: stops the three daemons (by their pid files) and waits for them.
# slurm_wait JOBID SECONDS: waits until the job has ended; its state in $job_state
#   (COMPLETED, FAILED, ...) and exit code in $job_exit ("0:0"); 1 on timeout.
# slurm_state JOBID: prints the job's JobState now (PENDING, RUNNING, ...).
# slurm_launcher: prints "srun --mpi=pmix" where Slurm has the pmix plugin, else "mpirun". The
#   plugin of Debian's slurm-wlm-basic-plugins loads libpmix.so, which only libpmix-dev installs
#   (libopenmpi-dev depends on it); `srun --mpi=list` names pmix only then.
# No cgroups (proctrack/linuxproc, task/none), no accounting: a finished job stays visible to
# `scontrol show job` for MinJobAge (600 s here), which is what slurm_wait reads.

slurm_reason=""

# Debian's packages, installed when missing (as root, or with sudo): about 15 s and 3.5 MB to
# download (13 MB on disk) on a Debian 12 machine that has Open MPI already.
slurm_install() {
  local missing="" p
  for p in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  command -v apt-get >/dev/null || {
    slurm_reason="Slurm is not installed (missing:$missing) and there is no apt-get"
    return 1
  }
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  echo "slurm_lib: installing slurm-wlm munge (missing:$missing)" >&2
  # shellcheck disable=SC2086
  if ! { $sudo apt-get install -y -qq --no-install-recommends slurm-wlm munge ||
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends slurm-wlm munge; }; } \
    >"${TMPDIR:-/tmp}/slurm_lib_apt.$$" 2>&1 </dev/null; then
    slurm_reason="apt-get install slurm-wlm munge failed: $(tail -c 300 "${TMPDIR:-/tmp}/slurm_lib_apt.$$")"
    rm -f "${TMPDIR:-/tmp}/slurm_lib_apt.$$"
    return 1
  fi
  rm -f "${TMPDIR:-/tmp}/slurm_lib_apt.$$"
}

# Two free TCP ports next to each other (slurmctld, slurmd), from a random start.
_slurm_ports() {
  local p used
  used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if ! grep -qx "$p" <<<"$used" && ! grep -qx "$((p + 1))" <<<"$used"; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

_slurm_fail() { # reason, with the end of the daemons' logs
  local d=$1
  shift
  slurm_reason="$*"
  local f
  for f in munged.log slurmctld.log slurmd.log; do
    [ -s "$d/$f" ] && slurm_reason="$slurm_reason; $f: $(tail -n 3 "$d/$f" | tr '\n' ' ' | tail -c 400)"
  done
  slurm_stop "$d"
  return 1
}

slurm_start() {
  local d=$1
  slurm_install || return 1
  [ "$(id -u)" = 0 ] || {
    slurm_reason="the test's Slurm runs its daemons as root (SlurmUser=root); this is uid $(id -u)"
    return 1
  }
  mkdir -p "$d/state" "$d/spool" "$d/munge"
  d=$(cd "$d" && pwd)
  chmod 700 "$d/munge"
  # munge: its own key and socket in the folder; slurm.conf's AuthInfo points every client there.
  if [ ! -s "$d/munge/munge.key" ]; then
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile="$d/munge/munge.key" 2>/dev/null
    else
      dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 2>/dev/null
    fi
    chmod 600 "$d/munge/munge.key"
  fi
  local sock="$d/munge/munge.socket"
  # --force: munged runs as root and may find /tmp's sticky bit or a world-readable parent.
  munged --force --key-file="$d/munge/munge.key" --socket="$sock" --pid-file="$d/munge/munged.pid" \
    --log-file="$d/munged.log" --seed-file="$d/munge/munged.seed" 2>>"$d/munged.log" ||
    { _slurm_fail "$d" "munged did not start"; return 1; }
  local ok=0
  for _ in $(seq 50); do
    [ -S "$sock" ] && { ok=1; break; }
    sleep 0.1
  done
  [ "$ok" = 1 ] || { _slurm_fail "$d" "munged made no socket $sock"; return 1; }
  if command -v munge >/dev/null && ! munge -n -S "$sock" | unmunge -S "$sock" >/dev/null 2>&1; then
    _slurm_fail "$d" "munge -n | unmunge fails on $sock"
    return 1
  fi

  local host hw mem port
  host=$(hostname -s)
  # The node as slurmd sees the hardware (CPUs, sockets, cores: `nproc` would follow
  # OMP_NUM_THREADS), with 90% of its memory (a node with more than it has would be drained).
  hw=$(slurmd -C 2>/dev/null | head -n 1 | grep -o 'CPUs=.*ThreadsPerCore=[0-9]*')
  [ -n "$hw" ] || hw="CPUs=$(getconf _NPROCESSORS_ONLN)"
  mem=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
  port=$(_slurm_ports) || { _slurm_fail "$d" "no free TCP ports"; return 1; }
  cat >"$d/slurm.conf" <<EOF
# Written by tests/slurm_lib.sh: one node, no cgroups, no accounting, everything in $d.
ClusterName=ancdtest
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool/%n
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# none, Debian's default: a plain srun cannot start Open MPI ranks, so the scripts' explicit
# --mpi=pmix (or mpirun) is what the tests check.
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
MinJobAge=600
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host $hw RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  export SLURM_CONF="$d/slurm.conf"
  slurmctld -f "$SLURM_CONF" -i 2>>"$d/slurmctld.log" ||
    { _slurm_fail "$d" "slurmctld did not start"; return 1; }
  slurmd -f "$SLURM_CONF" -N "$host" 2>>"$d/slurmd.log" ||
    { _slurm_fail "$d" "slurmd did not start"; return 1; }
  # Bounded wait: the node reports in and becomes idle within seconds.
  local st=""
  for _ in $(seq 60); do
    st=$(sinfo -h -N -n "$host" -o %t 2>/dev/null)
    [ "$st" = idle ] && return 0
    sleep 0.5
  done
  _slurm_fail "$d" "node $host not idle after 30 s (sinfo: '${st:-no answer}')"
}

_slurm_pid_stop() { # PIDFILE NAME: TERM, then KILL after 10 s
  local f=$1 pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  # Only the daemon this folder started: its command line must name it.
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$2"; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
}

slurm_stop() {
  local d=$1
  [ -d "$d" ] || return 0
  d=$(cd "$d" && pwd)
  # Jobs first, so that no slurmstepd is left behind.
  [ -f "$d/slurm.conf" ] && SLURM_CONF="$d/slurm.conf" scancel --quiet --user=root 2>/dev/null && sleep 1
  _slurm_pid_stop "$d/slurmd.pid" "$d/slurm.conf"
  _slurm_pid_stop "$d/slurmctld.pid" "$d/slurm.conf"
  _slurm_pid_stop "$d/munge/munged.pid" "$d/munge"
  return 0
}

slurm_launcher() {
  if srun --mpi=list 2>&1 | grep -qw pmix; then echo "srun --mpi=pmix"; else echo mpirun; fi
}

slurm_state() { scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }

job_state=""
job_exit=""
slurm_wait() {
  local id=$1 bound=$2 line
  local end=$((SECONDS + bound))
  while [ $SECONDS -lt $end ]; do
    line=$(scontrol show job -o "$id" 2>/dev/null)
    job_state=$(grep -o 'JobState=[A-Z_]*' <<<"$line" | cut -d= -f2)
    job_exit=$(grep -o ' ExitCode=[0-9:]*' <<<"$line" | cut -d= -f2)
    case $job_state in
    COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
      return 0 ;;
    esac
    sleep 1
  done
  return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case ${1:-} in
  start)
    if slurm_start "${2:?usage: slurm_lib.sh start DIR}"; then
      echo "export SLURM_CONF=$SLURM_CONF"
    else
      echo "slurm_lib: $slurm_reason" >&2
      exit 1
    fi ;;
  stop) slurm_stop "${2:?usage: slurm_lib.sh stop DIR}" ;;
  *) echo "usage: bash tests/slurm_lib.sh start|stop DIR" >&2; exit 2 ;;
  esac
fi

# For a test script: a throw-away Slurm in $sl (a short folder outside the build: munge's socket
# path has a 108-byte limit), stopped at exit, and by a watchdog should the script be killed
# (ctest's timeout sends SIGKILL); exits 77 with the reason when the daemons cannot start.
# Sets sl and t0.
slurm_test_begin() { # NAME
  sl=$(mktemp -d /tmp/ancd-slurm.XXXXXX)
  trap 'slurm_stop "$sl"; rm -rf "$sl"' EXIT
  trap 'exit 1' INT TERM
  (
    trap - EXIT INT TERM
    while kill -0 $$ 2>/dev/null; do sleep 2; done
    slurm_stop "$sl"
    rm -rf "$sl"
  ) </dev/null >/dev/null 2>&1 &
  t0=$SECONDS
  if ! slurm_start "$sl"; then
    echo "$1: skipped: the local Slurm cannot start: $slurm_reason"
    exit 77
  fi
}
