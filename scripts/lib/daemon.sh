# shellcheck shell=bash
# Helpers for the scripts that start local daemons for tests and demos (scripts/sandbox,
# scripts/gateway, scripts/dockerd, scripts/fake-gcs), so a fix lands in all of them at once:
# messages, free ports, pid files, readiness waits, the log shown on failure, and builds cached
# under a checksum of their inputs. Sourced, never run:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib/daemon.sh"
#
# What the sourcing script sets (each helper names what it needs):
#   daemon_name    prefix of every message: "sandbox" prints "sandbox: ..." and "sandbox: error: ..."
#   state          state dir; pid files in $state/pids/NAME.pid, logs in $state/logs/NAME.log
#   bin            directory of the binaries that launch starts
#   components     the daemons it starts (all_running)
#   ready_timeout  seconds a readiness wait allows
#   stop_all       a function stopping everything it started (fail_component, daemon_down)

log() { printf '%s: %s\n' "$daemon_name" "$*" >&2; }
die() { printf '%s: error: %s\n' "$daemon_name" "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Ports

used_ports=" "
# free_port: prints a TCP port nothing on this machine uses. A port that an outgoing connection
# uses as its source port cannot be listened on meanwhile (etcd failed with "bind: address already
# in use" on one), so it is picked below the kernel's range for those (32768-60999 by default),
# and every port a TCP socket has is skipped, not only listeners.
free_port() {
  local taken p lo=20000 hi=32768 first=0
  { read -r first _ < /proc/sys/net/ipv4/ip_local_port_range; } 2>/dev/null || true
  ((first > lo + 1000)) && hi=$first
  taken="$(ss -Htan 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }' | tr '\n' ' ')"
  while true; do
    p=$((lo + RANDOM % (hi - lo)))
    [[ " $taken " == *" $p "* || "$used_ports" == *" $p "* ]] && continue
    used_ports+="$p "
    printf '%s\n' "$p"; return 0
  done
}

# ---------------------------------------------------------------------------------------------
# Processes (only ever the ones whose pid files are in the state dir)

# alive PID: the process exists and is not a zombie (one nobody reaped yet counts as stopped).
alive() {
  local st
  st="$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "$st" && "$st" != Z ]]
}

# pid_of NAME: prints the pid recorded for NAME if that process is alive and still runs our
# binary (its executable is named NAME).
pid_of() {
  local f="$state/pids/$1.pid" pid exe
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  [[ "$(basename "${exe% (deleted)}")" == "$1" ]] || return 1
  printf '%s\n' "$pid"
}

all_running() {
  local c
  for c in "${components[@]}"; do pid_of "$c" >/dev/null || return 1; done
}

# pidfile_alive FILE: the pid in FILE (written by the daemon itself or by `$!`) is a process.
pidfile_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_gone PID SECONDS: waits until PID has exited, at most SECONDS; fails if it still runs.
wait_gone() {
  local i
  for ((i = 0; i < $2 * 4; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.25
  done
  ! kill -0 "$1" 2>/dev/null
}

# stop_group NAME...: SIGTERM to these daemons at once, SIGKILL to what is left after 5s.
stop_group() {
  local i name pid any pids=() names=()
  for name in "$@"; do
    if pid="$(pid_of "$name")"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$name")
    fi
    rm -f "$state/pids/$name.pid"
  done
  for ((i = 0; i < 50 && ${#pids[@]} > 0; i++)); do
    any=0
    for pid in "${pids[@]}"; do alive "$pid" && any=1; done
    ((any)) || break
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    if alive "${pids[i]}"; then kill -KILL "${pids[i]}" 2>/dev/null || true; fi
    log "stopped ${names[i]} (pid ${pids[i]})"
  done
}

# launch NAME ARGS...: starts $bin/NAME with its pid in $state/pids and its output in
# $state/logs (both dirs must exist). The log is truncated, or appended to with log_mode=append
# (scripts/sandbox revive), so the log of a killed process stays readable.
launch() {
  local name="$1"; shift
  local log="$state/logs/$name.log"
  # setsid: own session, so a Ctrl-C in the calling shell does not reach it.
  if [[ "${log_mode:-}" == append ]]; then
    printf -- '--- %s: revived by scripts/%s\n' "$(date -u +%FT%TZ)" "$daemon_name" >> "$log"
    setsid "$bin/$name" "$@" </dev/null >>"$log" 2>&1 8>&- 9>&- &
  else
    setsid "$bin/$name" "$@" </dev/null >"$log" 2>&1 8>&- 9>&- &
  fi
  local pid=$! i
  echo "$pid" > "$state/pids/$name.pid"
  # Right after the fork the child is still bash (then setsid) until it execs the binary, and
  # pid_of, which checks /proc/PID/exe, would call the daemon gone: a readiness wait then gave
  # up on a kube-apiserver that was just starting (seen on a 2-core machine under load).
  for ((i = 0; i < 250; i++)); do
    pid_of "$name" >/dev/null && break
    alive "$pid" || break
    sleep 0.02
  done
}

# ---------------------------------------------------------------------------------------------
# Readiness and failure

# show_log FILE LINES: the last LINES lines of a daemon's log, on stderr.
show_log() { tail -n "$2" "$1" >&2 || true; }

# fail_component NAME WHY: says why NAME failed with the end of its log (fail_log_lines lines,
# default 40), stops everything (except under log_mode=append: only this one failed again) and
# exits.
fail_component() {
  local name="$1" why="$2"
  log "$name $why; last lines of $state/logs/$name.log:"
  show_log "$state/logs/$name.log" "${fail_log_lines:-40}"
  [[ "${log_mode:-}" == append ]] || stop_all
  die "$name did not become ready (logs kept in $state/logs; 'scripts/$daemon_name down' removes them)"
}

# wait_until NAME PAUSE TEST...: runs TEST every PAUSE seconds until it succeeds; fails NAME
# (fail_component) when its process exits, and returns 1 after ready_timeout seconds.
wait_until() {
  local name="$1" pause="$2"; shift 2
  local deadline=$((SECONDS + ready_timeout))
  until "$@"; do
    pid_of "$name" >/dev/null || fail_component "$name" "exited"
    ((SECONDS < deadline)) || return 1
    sleep "$pause"
  done
}

# http_ok URL [curl args...]: URL answers 200.
http_ok() {
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" 2>/dev/null || true)" == 200 ]]
}

# wait_http_ok NAME URL: waits until URL answers 200, failing NAME when it does not in time.
wait_http_ok() {
  wait_until "$1" 0.1 http_ok "$2" \
    || fail_component "$1" "not ready after ${ready_timeout}s ($2)"
}

# ---------------------------------------------------------------------------------------------
# State dir and builds

# lock_state: takes the state dir's lock (fd 8) for the rest of the script, so two callers do
# not start or stop the same daemons together.
lock_state() {
  mkdir -p "$(dirname "$state")"
  exec 8>"$state.lock"
  flock 8
}

# daemon_down: stops what was started (stop_all) and removes the state dir.
daemon_down() {
  lock_state
  if [[ -d "$state" ]]; then
    stop_all
    rm -rf "$state"
    log "down; removed $state"
  else
    log "nothing to stop"
  fi
  rm -f "$state.lock"
}

# cached_build DIR SUMMARY RECIPE: prints DIR, a build whose name is a checksum of its inputs,
# complete once DIR/.complete exists. Otherwise runs RECIPE TMP DIR under the cache folder's lock
# (one build at a time; a caller that waited finds it done) in a fresh TMP beside DIR. RECIPE
# fills TMP, or removes it and dies. TMP then becomes DIR, its .complete holding SUMMARY (what was
# built) and when and how long it took.
cached_build() {
  local dir="$1" summary="$2" recipe="$3" parent="${1%/*}"
  if [[ -f "$dir/.complete" ]]; then
    printf '%s\n' "$dir"; return 0
  fi
  mkdir -p "$parent"
  (
    flock 9
    if [[ -f "$dir/.complete" ]]; then exit 0; fi
    local tmp="$parent/.tmp-$$" start=$SECONDS
    rm -rf "$tmp"; mkdir -p "$tmp"
    "$recipe" "$tmp" "$dir"
    printf '%s\nbuilt %s in %ss\n' "$summary" "$(date -u +%FT%TZ)" "$((SECONDS - start))" \
      > "$tmp/.complete"
    rm -rf "$dir"; mv "$tmp" "$dir"
    log "built in $((SECONDS - start))s"
  ) 9>"$parent/.build.lock"
  [[ -f "$dir/.complete" ]] || die "no binaries in $dir"
  printf '%s\n' "$dir"
}
