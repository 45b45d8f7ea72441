# shellcheck shell=bash disable=SC2154 # repo, state, cache, bin, log, die: set by scripts/sandbox
# A real Argo workflow-controller for the sandbox (scripts/sandbox argo up|down|status|build;
# docs/argo.md, "The sandbox's controller"). Sourced by scripts/sandbox.
#
# The controller and argoexec come from github.com/argoproj/argo-workflows/v4, pinned in
# tools/argo/go.mod (a module of its own: Argo v4 builds against k8s.io/client-go v0.33, the
# control plane against v1.36) and cached under $KFCHECK_CACHE/argo/<hash>. The v4.0.5 module
# zip lacks the Linux file of workflow/executor/osspecific (it has the darwin and windows ones),
# so argoexec does not build for Linux as served; the recipe builds from a copy of the module
# with kfcheck's own tools/argo/linux/signal_linux.go.in added (go build -overlay refuses files
# under the module cache).
#
# The controller runs on the host with the sandbox's admin kubeconfig, leader election off,
# metrics and telemetry off, watching every namespace, reading its ConfigMap
# kubeflow/workflow-controller-configmap (what Kubeflow's manifests name it). Its /healthz port
# is fixed by Argo at :6060; a second controller on the machine logs that the port is taken and
# runs on (readiness is read from its log, not that port). kwok runs the step pods on kwok's
# nodes (tools/sandbox/kwok-stages/pod-workflow-*.yaml); on the real node they really run.

argo_tools="$repo/tools/argo"
argo_module=github.com/argoproj/argo-workflows/v4
argo_namespace=kubeflow
argo_configmap=workflow-controller-configmap

argo_version() { awk -v m="$argo_module" '$1 == m { print $2; exit }' "$argo_tools/go.mod"; }

argo_bin_hash() {
  command -v go >/dev/null || die "go is not on PATH (needed to build Argo)"
  {
    cat "$argo_tools/go.mod" "$argo_tools/go.sum" "$argo_tools/linux/signal_linux.go.in"
    go env GOVERSION GOOS GOARCH
    echo "argo recipe 1" # bump when the build steps below change
  } | sha256sum | cut -c1-16
}

argo_bin_dir() { printf '%s/argo/%s' "$cache" "$(argo_bin_hash)"; }

argo_build() { cached_build "$(argo_bin_dir)" "argo-workflows $(argo_version)" argo_build_into; }

# The sandbox's stand-in for the wait container on kwok's nodes (tools/argo/taskresults), a
# build of its own so that changing it never rebuilds Argo.
standin_bin_dir() {
  local h
  h="$({
    cat "$argo_tools/go.mod" "$argo_tools/go.sum" "$argo_tools/taskresults/main.go"
    go env GOVERSION GOOS GOARCH
  } | sha256sum | cut -c1-16)"
  printf '%s/argo/kwok-task-results-%s' "$cache" "$h"
}

standin_build() { cached_build "$(standin_bin_dir)" "kwok-task-results" standin_build_into; }

standin_build_into() {
  local tmp="$1"
  ( cd "$argo_tools" && CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags "-s -w" \
      -o "$tmp/kwok-task-results" ./taskresults ) \
    || { rm -rf "$tmp"; die "go build of tools/argo/taskresults failed"; }
}

# argo_build_into TMP DIR: the cached_build recipe.
argo_build_into() {
  local tmp="$1" dir="$2" src
  log "building Argo $(argo_version) (workflow-controller, argoexec) into $dir; a cold build takes minutes"
  src="$(cd "$argo_tools" && go mod download -json "$argo_module@$(argo_version)" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')" \
    || { rm -rf "$tmp"; die "go mod download $argo_module failed"; }
  mkdir -p "$tmp/src"
  cp -r "$src" "$tmp/src/argo-workflows"
  chmod -R u+w "$tmp/src/argo-workflows"
  local os_dir="$tmp/src/argo-workflows/workflow/executor/osspecific"
  [[ -f "$os_dir/signal_linux.go" ]] \
    || cp "$argo_tools/linux/signal_linux.go.in" "$os_dir/signal_linux.go"
  cp "$argo_tools/go.mod" "$tmp/src/go.mod"
  cp "$argo_tools/go.sum" "$tmp/src/go.sum"
  # -modfile keeps tools/argo/go.mod as committed; the replace points at the patched copy.
  go mod edit -replace "$argo_module=$tmp/src/argo-workflows" "$tmp/src/go.mod"
  ( cd "$argo_tools" && CGO_ENABLED=0 nice -n 19 go build -modfile="$tmp/src/go.mod" -trimpath \
      -ldflags "-s -w" -o "$tmp/" "$argo_module/cmd/workflow-controller" "$argo_module/cmd/argoexec" ) \
    || { rm -rf "$tmp"; die "go build of Argo failed"; }
  rm -rf "$tmp/src"
  local b
  for b in workflow-controller argoexec; do
    [[ -x "$tmp/$b" ]] || { rm -rf "$tmp"; die "the Argo build produced no $b"; }
  done
}

argo_k() { "$bin/kubectl" --kubeconfig "$state/kubeconfig" "$@"; }

# argo_crds: the Argo CRDs of a Kubeflow install, with the fully validated Workflow CRD in place
# of the minimal one (the scenarios apply the same set: tools/sandbox/scenario.sh, crd_files).
argo_crd_files() {
  local shared="${KFCHECK_SHARED_DIR:-$repo/../shared}" f
  [[ -f "$shared/kubeflow/crds-full-schema/argoproj.io_workflows.yaml" ]] \
    || die "no $shared/kubeflow/crds-full-schema/argoproj.io_workflows.yaml (set KFCHECK_SHARED_DIR to the shared/ directory)"
  printf '%s\n' "$shared/kubeflow/crds-full-schema/argoproj.io_workflows.yaml"
  for f in "$shared"/kubeflow/crds/argoproj.io_*.yaml; do
    [[ "${f##*/}" == argoproj.io_workflows.yaml ]] || printf '%s\n' "$f"
  done
}

argo_config_yaml() {
  cat <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: $argo_namespace}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: $argo_configmap
  namespace: $argo_namespace
  labels: {app.kubernetes.io/managed-by: kfcheck-sandbox}
data:
  # Nothing listens beyond the fixed :6060 healthz: no metrics or telemetry servers.
  metricsConfig: |
    enabled: false
  telemetryConfig: |
    enabled: false
  # The executor as an image built here (scripts/node-image argoexec); never pulled.
  executor: |
    imagePullPolicy: Never
EOF
}

# argo_crds_established: every argoproj.io CRD applied (argo_crd_files) is Established.
argo_crds_established() {
  local want have
  want="$(argo_crd_files | wc -l)"
  have="$(argo_k get crd -o jsonpath='{range .items[*]}{.spec.group} {.status.conditions[?(@.type=="Established")].status}{"\n"}{end}' 2>/dev/null \
    | awk '$1 == "argoproj.io" && $2 == "True"' | wc -l)"
  ((have >= want))
}

standin_ready() { grep -q 'watching Workflow pods' "$state/logs/kwok-task-results.log" 2>/dev/null; }

argo_ready() { grep -q 'msg="Starting Workflow Controller"' "$state/logs/workflow-controller.log" 2>/dev/null; }

argo_up() {
  [[ -f "$state/kubeconfig" ]] || die "the sandbox is not up (scripts/sandbox up first)"
  lock_state
  local t0=$SECONDS abin sbin
  abin="$(argo_build)"
  sbin="$(standin_build)"
  if pid_of workflow-controller >/dev/null && argo_ready && pid_of kwok-task-results >/dev/null; then
    log "argo: already up"
    return 0
  fi
  mapfile -t files < <(argo_crd_files)
  local f args=()
  for f in "${files[@]}"; do args+=(-f "$f"); done
  argo_k apply --server-side --force-conflicts --field-manager kfcheck-sandbox "${args[@]}" >/dev/null \
    || die "applying the Argo CRDs failed"
  # Polled: `kubectl wait` fails at once on a CRD that has no conditions yet.
  local deadline=$((SECONDS + ready_timeout))
  until argo_crds_established; do
    ((SECONDS < deadline)) || die "the Argo CRDs were not Established in ${ready_timeout}s"
    sleep 0.2
  done
  argo_config_yaml | argo_k apply --server-side --force-conflicts --field-manager kfcheck-sandbox -f - >/dev/null
  mkdir -p "$state/pids" "$state/logs"
  printf '%s\n' "$abin" > "$state/argo-bin"
  # One controller, and a Workflow re-read every second rather than every 10 s (its default), so
  # that a sandbox run of short steps is not paced by the requeue.
  export LEADER_ELECTION_DISABLE=true DEFAULT_REQUEUE_TIME=1s
  # The controller asks an image's registry for its entrypoint when a container has no command
  # (seen: a DNS lookup of index.docker.io). Only addresses on this machine are ever reached:
  # every HTTP(S) request but the apiserver's goes to a closed local port and fails at once.
  export HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost
  export https_proxy="$HTTPS_PROXY" http_proxy="$HTTP_PROXY" no_proxy="$NO_PROXY"
  bin="$abin" start_one workflow-controller \
    --kubeconfig "$state/kubeconfig" --namespace "$argo_namespace" --configmap "$argo_configmap" \
    --executor-image "${KFCHECK_ARGOEXEC_IMAGE:-$("$repo/scripts/node-image" ref argoexec)}" --log-format text
  wait_until workflow-controller 0.2 argo_ready \
    || fail_component workflow-controller "not ready after ${ready_timeout}s"
  # kwok's pods run no wait container: the stand-in writes the task results of their steps.
  pid_of kwok-task-results >/dev/null \
    || bin="$sbin" start_one kwok-task-results --kubeconfig "$state/kubeconfig"
  wait_until kwok-task-results 0.2 standin_ready \
    || fail_component kwok-task-results "not ready after ${ready_timeout}s"
  log "argo: workflow-controller $(argo_version) up in $((SECONDS - t0))s (pid $(pid_of workflow-controller))"
}

argo_down() {
  lock_state
  if pid_of workflow-controller >/dev/null; then
    stop_group workflow-controller
  else
    log "argo: the controller is not running"
  fi
  if pid_of kwok-task-results >/dev/null; then stop_group kwok-task-results; fi
}

argo_status() {
  local pid name rc=0
  for name in workflow-controller kwok-task-results; do
    if pid="$(pid_of "$name")"; then
      printf '%-24s running (pid %s)\n' "$name" "$pid"
    else
      printf '%-24s not running\n' "$name"
      rc=1
    fi
  done
  return "$rc"
}

cmd_argo() {
  bin="$(bin_dir)"
  case "${1:-}" in
    up) argo_up ;;
    down) argo_down ;;
    status) argo_status ;;
    build) argo_build; standin_build ;;
    bin) argo_bin_dir; echo ;;
    *) die "usage: scripts/sandbox argo up|down|status|build|bin" ;;
  esac
}
