# shellcheck shell=bash disable=SC2154 # repo, state, bin, ... are set by scripts/sandbox
# scripts/sandbox populate --nodes N --pods P --profiles R [--parallel J]
# (sourced by scripts/sandbox after tools/sandbox/scenario.sh, whose helpers it uses)
#
# Makes the sandbox big, for benchmarks of read-only checks: N more kwok nodes kwok-bench-NNNN
# (every tenth a GPU node shaped like kwok-gpu-0), R more profiles bench-profile-NNNN with the
# full healthy per-profile object set (Workload Identity instead of a key Secret), and P pods
# bound to the bench nodes through spec.nodeName (the scheduler is bypassed; kwok marks them
# Running), spread round-robin over the bench-profile namespaces (namespace bench-pods if R is 0).
# Everything bench-made carries label kfcheck.sandbox/bench=true (nodes, pods) or the
# bench-profile- name prefix. Objects that exist already are kept, so a second run with larger
# numbers only adds the difference. It needs the healthy scenario's CRDs and ClusterRoles and
# applies `scenario healthy` first when no scenario was applied yet.

populate_usage="usage: scripts/sandbox populate --nodes N --pods P --profiles R [--parallel J]"

# kubectl_files VERB-ARGS... -- FILE...: one kubectl per file, $parallel at a time; prints the
# number of objects it made. An object that exists already is not an error.
kubectl_files() {
  local args=()
  while [[ "$1" != -- ]]; do args+=("$1"); shift; done
  shift
  (($#)) || { echo 0; return 0; }
  local errs; errs="$(mktemp "$state/populate/errors.XXXXXX")"
  local made
  made="$(printf '%s\0' "$@" | xargs -0 -P "$parallel" -I{} \
    "$bin/kubectl" --kubeconfig "$state/kubeconfig" "${args[@]}" -f {} -o name 2>"$errs" | wc -l)" || true
  if grep -v 'AlreadyExists' "$errs" | grep -q .; then
    grep -v 'AlreadyExists' "$errs" | head -n 20 >&2
    die "kubectl ${args[0]} failed (first errors above)"
  fi
  rm -f "$errs"
  printf '%s\n' "$made"
}

count_lines() { grep -c . || true; }

bench_nodes_ready() {
  local want="$1" n
  n="$(k get nodes -l kfcheck.sandbox/bench=true \
    -o 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' \
    | grep -c '^True$' || true)"
  [[ "$n" -ge "$want" ]] || { printf '%s of %s bench nodes Ready\n' "$n" "$want"; return 1; }
}

rss_mib() {
  local pid; pid="$(pid_of "$1")" || { echo "?"; return; }
  awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$pid/status"
}

cmd_populate() {
  local nodes=0 pods=0 profiles=0 parallel=4
  while (($#)); do
    case "$1" in
      --nodes|--pods|--profiles|--parallel)
        [[ "${2:-}" =~ ^[0-9]+$ ]] || die "$1 needs a number; $populate_usage"
        printf -v "${1#--}" '%s' "$2"; shift 2 ;;
      *) die "$populate_usage" ;;
    esac
  done
  ((nodes <= 9999 && profiles <= 9999)) || die "at most 9999 nodes and 9999 profiles (four-digit names)"
  ((parallel >= 1)) || die "--parallel must be at least 1"
  ((pods == 0 || nodes > 0)) || die "--pods needs --nodes: the pods are bound to the bench nodes"
  [[ -f "$state/kubeconfig" ]] || die "not up (scripts/sandbox up)"
  exec 8>"$state.lock"
  flock 8
  need_up
  if [[ ! -s "$state/scenario" ]]; then
    log "no scenario applied yet: applying healthy first"
    switch_scenario healthy
  fi
  local t0 t dir="$state/populate"
  t0="$(now_us)"
  # Holds Secrets (the bench profiles' object-store keys): private, removed at the end.
  rm -rf "$dir"; mkdir -p "$dir"; chmod 700 "$dir"
  t="$(now_us)"
  gen populate --out "$dir" --nodes "$nodes" --pods "$pods" --profiles "$profiles"
  log "generated $nodes nodes, $profiles profiles, $pods pods ($(since "$t"))"

  local made
  shopt -s nullglob
  t="$(now_us)"
  made="$(kubectl_files create -- "$dir"/nodes-*.yaml)"
  log "nodes: $made created ($(since "$t"))"
  t="$(now_us)"
  made="$(kubectl_files apply --server-side --force-conflicts --field-manager "$field_manager" \
    -- "$dir"/namespaces*.yaml "$dir"/profiles-*.yaml)"
  if ((profiles > 0)); then
    ssa --subresource=status -f "$dir/status.yaml" >/dev/null
  fi
  log "profiles: $made objects applied ($(since "$t"))"
  t="$(now_us)"
  if ((nodes > 0)); then
    wait_for "$nodes bench nodes to be Ready" bench_nodes_ready "$nodes"
  fi
  log "bench nodes Ready ($(since "$t"))"

  t="$(now_us)"
  made="$(kubectl_files create -- "$dir"/pods-*.yaml)"
  log "pods: $made created ($(since "$t"))"
  shopt -u nullglob
  rm -rf "$dir"

  # kwok works through the pods at its own pace; wait until all are Running, or say how many are.
  t="$(now_us)"
  local total running deadline=$((SECONDS + 120 + pods / 20)) last=-1 stalled=0
  total="$(k get pods -A -l kfcheck.sandbox/bench=true -o name | count_lines)"
  while true; do
    running="$(k get pods -A -l kfcheck.sandbox/bench=true --field-selector status.phase=Running \
      -o name | count_lines)"
    ((running >= total)) && break
    # Stop waiting when nothing moved for 30 s, or at the deadline; report what there is.
    if ((running == last)); then ((stalled += 2)); else stalled=0; last=$running; fi
    if ((SECONDS >= deadline || stalled >= 30)); then
      log "only $running of $total bench pods Running after $(since "$t")"
      break
    fi
    sleep 2
  done
  log "pods Running: $running of $total ($(since "$t"))"
  log "populate done in $(since "$t0"): $(k get nodes -o name | count_lines) nodes," \
    "$(k get profiles.kubeflow.org -o name | count_lines) profiles, $total bench pods"
  log "resident memory: kube-apiserver $(rss_mib kube-apiserver) MiB, etcd $(rss_mib etcd) MiB," \
    "kwok $(rss_mib kwok) MiB, kube-controller-manager $(rss_mib kube-controller-manager) MiB," \
    "kube-scheduler $(rss_mib kube-scheduler) MiB"
  ((running >= total)) || exit 1
}
