# What the script tests share; each sources it first: . "$(dirname "$0")/lib.sh"
# Sets ancd (the binary), src (the source tree) and tmp (a fresh scratch folder named after the
# script), and the checks, which count failures in $fails; `finish NAME` prints the verdict last
# and gives the script its exit status.
set -u
ancd=${ANCD_BIN:?ANCD_BIN not set}
src=${ANCD_SOURCE_DIR:?}
tmp=${ANCD_TEST_TMP:-/tmp}/$(basename "$0" .sh)_sh
rm -rf "$tmp" && mkdir -p "$tmp"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# expect CODE CMD...: runs CMD, checks its exit code; output in $tmp/out, $tmp/err
expect() {
  local want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
  [ "$got" = "$want" ] || fail "'$*' exited $got, want $want: $(tail -c 400 "$tmp/err")"
}
contains() { grep -q -- "$2" "$1" || fail "$1 lacks '$2': $(tail -c 400 "$1")"; }
lacks() { grep -q -- "$2" "$1" && fail "$1 has '$2'"; }
finish() {
  [ "$fails" = 0 ] && echo "$1: all passed" || echo "$1: $fails failed"
  [ "$fails" = 0 ]
}
