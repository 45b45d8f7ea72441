# shellcheck shell=bash disable=SC2154 # repo, state, bin, ... are set by scripts/sandbox
# The scenarios of scripts/sandbox (sourced by it; uses its $repo, $state, $bin, log, die).
#
#   scripts/sandbox scenarios        list the scenario names, one line each
#   scripts/sandbox scenario NAME    make the running sandbox "healthy + fault NAME"
#
# A switch: restore the fault recorded in $state/scenario (if any), apply the healthy manifests
# (server-side apply, field manager kfcheck-sandbox, --force-conflicts, so it is idempotent and
# takes back any field a fault changed), wait until the healthy workloads have settled, record
# NAME, break NAME, and wait until the cluster shows that fault in its steady state, so that a
# check run right after sees what it would see an hour later.
#
# A fault is tools/sandbox/scenarios/faults/NAME.sh defining fault_summary (one line for
# `scenarios`), break_fault, restore_fault (undo what the healthy apply cannot: a removed node, a
# label it does not own, a strategy change; idempotent, also after a half-done break) and settle.

sandbox_tools="$repo/tools/sandbox"
scenarios_dir="$sandbox_tools/scenarios"
shared_dir="${KFCHECK_SHARED_DIR:-$repo/../shared}"
field_manager=kfcheck-sandbox
# A settle step that takes longer than this is a broken scenario, not a slow machine.
settle_timeout="${KFCHECK_SANDBOX_SETTLE_TIMEOUT:-60}"

k() { "$bin/kubectl" --kubeconfig "$state/kubeconfig" "$@"; }
ssa() { k apply --server-side --force-conflicts --field-manager "$field_manager" "$@"; }
probe() { python3 "$sandbox_tools/probe.py" "$@"; }
gen() { python3 "$sandbox_tools/gen.py" "$@"; }

# Microseconds since the epoch, and "1.2s" since such a value.
now_us() { printf '%s\n' "${EPOCHREALTIME/./}"; }
since() {
  local ms=$((($(now_us) - $1) / 1000))
  printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}

# wait_for WHAT CMD...: runs CMD until it succeeds (every 0.2 s, at most $settle_timeout s); on
# timeout dies with WHAT and CMD's last output (probe.py says which object is not there yet).
wait_for() {
  local what="$1"; shift
  local deadline=$((SECONDS + settle_timeout)) out
  while true; do
    if out="$("$@" 2>&1)"; then return 0; fi
    if ((SECONDS >= deadline)); then
      die "timed out after ${settle_timeout}s waiting for $what${out:+: $out}"
    fi
    sleep 0.2
  done
}

# absent ARGS...: `kubectl get ARGS` answers NotFound (any other error is not "absent").
absent() {
  local out
  if out="$(k get "$@" -o name 2>&1)"; then return 1; fi
  [[ "$out" == *NotFound* || "$out" == *"not found"* ]]
}

# jp_is VALUE ARGS...: `kubectl get ARGS -o jsonpath=...` (last argument) prints exactly VALUE.
jp_is() {
  local want="$1" out; shift
  out="$(k get "$@" 2>&1)" || { printf '%s\n' "$out"; return 1; }
  [[ "$out" == "$want" ]] || { printf 'is "%s", want "%s"\n' "$out" "$want"; return 1; }
}

need_up() {
  [[ -f "$state/kubeconfig" && -f "$state/ports" ]] || die "not up (scripts/sandbox up)"
  # shellcheck source=/dev/null
  source "$state/ports"
  [[ "$(curl -s --max-time 2 --cacert "$state/pki/ca.crt" --cert "$state/pki/admin.crt" \
    --key "$state/pki/admin.key" "https://127.0.0.1:$apiserver_port/readyz" || true)" == ok ]] \
    || die "the sandbox in $state is not ready (scripts/sandbox status)"
}

fault_file() { printf '%s/faults/%s.sh' "$scenarios_dir" "$1"; }

fault_names() {
  local f
  for f in "$scenarios_dir"/faults/*.sh; do f="${f##*/}"; printf '%s\n' "${f%.sh}"; done
}

load_fault() {
  local f; f="$(fault_file "$1")"
  [[ -f "$f" ]] || die "unknown scenario '$1' (scripts/sandbox scenarios lists them)"
  unset -f break_fault restore_fault settle
  fault_summary=""
  # shellcheck source=/dev/null
  source "$f"
  local fn
  for fn in break_fault restore_fault settle; do
    declare -F "$fn" >/dev/null || die "$f must define break_fault, restore_fault and settle"
  done
}

cmd_scenarios() {
  printf '%-28s %s\n' healthy "no fault: Kubeflow CRDs, kubeflow Deployments and webhooks, two profiles, GPU device plugin"
  local n
  for n in $(fault_names); do
    ( load_fault "$n"; printf '%-28s %s\n' "$n" "$fault_summary" )
  done
}

# ---------------------------------------------------------------------------------------------
# healthy

# The CRDs of a Kubeflow install, with Argo's fully validated Workflow CRD in place of the minimal
# one where shared/ has it (what the real controller of scripts/sandbox argo is tested with).
crd_files() {
  local f full="$shared_dir/kubeflow/crds-full-schema/argoproj.io_workflows.yaml"
  for f in "$shared_dir"/kubeflow/crds/*.yaml; do
    if [[ "${f##*/}" == argoproj.io_workflows.yaml && -f "$full" ]]; then f="$full"; fi
    printf '%s\n' "$f"
  done
}

# crds_established: every CRD that apply_crds applied (crds.names) exists and is Established.
# One LIST (29 GETs by name take seconds).
crds_established() {
  [[ -s "$state/crds.names" ]] || return 1
  local established missing
  established="$(k get crd -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Established")].status}{"\n"}{end}' \
    | awk '$2 == "True" { print "customresourcedefinition.apiextensions.k8s.io/" $1 }')" || return 1
  missing="$(grep -vxF -f <(printf '%s\n' "$established") "$state/crds.names" || true)"
  [[ -z "$missing" ]] || { printf 'not Established: %s\n' "${missing//$'\n'/ }"; return 1; }
}

apply_crds() {
  [[ -d "$shared_dir/kubeflow/crds" ]] \
    || die "no $shared_dir/kubeflow/crds (set KFCHECK_SHARED_DIR to the shared/ directory)"
  local sum; sum="$(crd_files | xargs cat | sha256sum | cut -c1-16)"
  # Applying 29 CRDs (the Istio ones are large) is the slowest part of a switch; skip it when these
  # very files were applied before and every CRD is still there and Established.
  if [[ "$(cat "$state/crds.sha" 2>/dev/null)" == "$sum" ]] && crds_established; then return 0; fi
  local files=() f
  while IFS= read -r f; do files+=(-f "$f"); done < <(crd_files)
  ssa -o name "${files[@]}" > "$state/crds.names.tmp"
  mv "$state/crds.names.tmp" "$state/crds.names"
  wait_for "the Kubeflow CRDs to be Established" crds_established
  printf '%s\n' "$sum" > "$state/crds.sha"
}

apply_healthy() {
  apply_crds
  local f
  {
    for f in "$scenarios_dir"/healthy/*.yaml; do printf -- '---\n'; cat "$f"; done
    gen profiles --state "$state" # the profile template, per profiles.conf, with its Secrets
    # What lives in a profile namespace, so after the profiles.
    for f in "$scenarios_dir"/healthy/after-profiles/*.yaml; do printf -- '---\n'; cat "$f"; done
  } | ssa -f - >/dev/null
  # What a reconciled Profile shows; status is a subresource, so it is applied on its own.
  gen profile-status | ssa --subresource=status -f - >/dev/null
}

healthy_settled() {
  {
    k get -n kubeflow deployments,pods,endpointslices -o json
    k get -n kube-system daemonset/nvidia-device-plugin-daemonset -o json
    k get -n kube-system pods -l name=nvidia-device-plugin-ds -o json
    k get nodes kwok-cpu-0 kwok-gpu-0 -o json
  } | probe healthy
}

# ---------------------------------------------------------------------------------------------

cmd_scenario() {
  local name="${1:-}"
  [[ -n "$name" ]] || die "usage: scripts/sandbox scenario NAME (scripts/sandbox scenarios lists them)"
  [[ "$name" == healthy || -f "$(fault_file "$name")" ]] \
    || die "unknown scenario '$name'; known: healthy $(fault_names | tr '\n' ' ')"
  [[ -x "$bin/kubectl" ]] || die "no kubectl in $bin (scripts/sandbox build)"
  [[ -f "$state/kubeconfig" ]] || die "not up (scripts/sandbox up)"
  exec 8>"$state.lock"
  flock 8
  need_up
  switch_scenario "$name"
}

# switch_scenario NAME: the switch itself (the caller holds the state lock and checked need_up).
switch_scenario() {
  local name="$1" t0 t prev
  t0="$(now_us)"
  prev="$(cat "$state/scenario" 2>/dev/null || true)"
  if [[ -n "$prev" && "$prev" != healthy ]]; then
    t="$(now_us)"
    load_fault "$prev"
    restore_fault
    log "restored $prev ($(since "$t"))"
  fi
  t="$(now_us)"
  apply_healthy
  wait_for "the healthy workloads to settle" healthy_settled
  printf 'healthy\n' > "$state/scenario"
  log "healthy applied and settled ($(since "$t"))"
  if [[ "$name" != healthy ]]; then
    t="$(now_us)"
    load_fault "$name"
    # Recorded first: a break that fails half-way is still restored by the next switch.
    printf '%s\n' "$name" > "$state/scenario"
    break_fault
    settle
    log "broke $name: $fault_summary ($(since "$t"))"
  fi
  log "scenario $name in $(since "$t0")"
}
