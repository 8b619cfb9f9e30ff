# steps.sh - sourced by demo.sh and test.sh: each step is one line on the
# terminal with its duration, while what it prints (apt, go, the servers,
# the tools) goes to one log file, named at the end. A failed step prints
# the log's last lines and its path, and exits with the step's status.
#
#   . scripts/steps.sh
#   steps_init "$ROOT/.logs/demo.log"
#   step "installing packages" scripts/testenv.sh install
#   steps_done "demo"
#
# A step runs in a subshell with `set -e` (so that it holds inside shell
# functions too); it cannot change the calling shell's variables or
# directory.

export LC_NUMERIC=C # EPOCHREALTIME and printf use a decimal point
STEPS_LOG=${STEPS_LOG:-}
STEPS_TAIL=${STEPS_TAIL:-40}

steps_now() {
  if [ -n "${EPOCHREALTIME:-}" ]; then echo "$EPOCHREALTIME"; else date +%s; fi
}

# steps_since T0: seconds since T0, one decimal ("12.3s").
steps_since() { awk -v a="$1" -v b="$(steps_now)" 'BEGIN { printf "%.1fs", b - a }'; }

steps_init() { # steps_init LOGFILE
  STEPS_LOG=$1
  mkdir -p "$(dirname "$STEPS_LOG")"
  : > "$STEPS_LOG"
  STEPS_T0=$(steps_now)
}

steps_fail() { # steps_fail STATUS: the log's tail and path, then exit
  local rc=$1
  {
    echo
    echo "---- last $STEPS_TAIL lines of $STEPS_LOG ----"
    tail -n "$STEPS_TAIL" "$STEPS_LOG"
    echo "---- full log: $STEPS_LOG"
  } >&2
  exit "$rc"
}

# steps_run CMD [ARGS…]: run CMD in a subshell under set -e, in the
# foreground (Ctrl-C reaches it); its status is left in STEPS_RC.
steps_run() {
  local e=0
  case $- in *e*) e=1 ;; esac
  set +e
  ( set -e; "$@" )
  STEPS_RC=$?
  [ "$e" = 0 ] || set -e
}

step() { # step WHAT CMD [ARGS…]: run CMD with its output in the log
  local what=$1 t0 rc=0
  shift
  t0=$(steps_now)
  printf '%-60s' "$what"
  printf '\n==== %s: %s\n==== %s\n' "$(date -u +%H:%M:%S)" "$what" "$*" >> "$STEPS_LOG"
  steps_run "$@" >> "$STEPS_LOG" 2>&1 < /dev/null
  rc=$STEPS_RC
  if [ "$rc" = 0 ]; then
    printf ' %8s\n' "$(steps_since "$t0")"
  else
    printf ' FAILED after %s (exit %d)\n' "$(steps_since "$t0")" "$rc"
    steps_fail "$rc"
  fi
}

# step_shown WHAT CMD [ARGS…]: a step whose standard output is the point
# (the drill's report): shown on the terminal and kept in the log; its
# standard error goes to the log only.
step_shown() {
  local what=$1 t0 rc=0
  shift
  t0=$(steps_now)
  printf '%s\n' "$what"
  printf '\n==== %s: %s\n==== %s\n' "$(date -u +%H:%M:%S)" "$what" "$*" >> "$STEPS_LOG"
  steps_run "$@" 2>> "$STEPS_LOG" < /dev/null > >(tee -a "$STEPS_LOG")
  rc=$STEPS_RC
  wait $! 2>/dev/null || true # tee's last lines
  if [ "$rc" = 0 ]; then
    printf '%-60s %8s\n' "$what: done" "$(steps_since "$t0")"
  else
    printf '%-60s FAILED after %s (exit %d)\n' "$what" "$(steps_since "$t0")" "$rc"
    steps_fail "$rc"
  fi
}

steps_done() { # steps_done WHAT: the total and the log's name
  printf '%s finished in %s; log: %s\n' "$1" "$(steps_since "$STEPS_T0")" "$STEPS_LOG"
}
