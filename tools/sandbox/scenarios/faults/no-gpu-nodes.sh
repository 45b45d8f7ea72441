# shellcheck shell=bash disable=SC2034,SC2154 # fault_summary is read, state etc. set by the sourcing script
# Sourced by scripts/sandbox (tools/sandbox/scenario.sh); k, absent, jp_is, wait_for, nodes_yaml
# are its helpers.
fault_summary="node kwok-gpu-0 deleted: the cluster has no GPU node (and no device-plugin pod)"

break_fault() {
  k delete node kwok-gpu-0 --ignore-not-found >/dev/null
  # Kubernetes' pod GC deletes the pods of a vanished node only after 40 s of quarantine; do now
  # what it will do then (the device-plugin pod, and anything else that ran there).
  k delete pods --all-namespaces --field-selector spec.nodeName=kwok-gpu-0 \
    --force --grace-period=0 >/dev/null 2>&1 || true
}

# Re-create it exactly as `scripts/sandbox up` does (same manifest, kwok makes it Ready); the
# DaemonSet controller then starts the device-plugin pod again (the healthy settle waits for it).
restore_fault() {
  if absent node/kwok-gpu-0; then
    nodes_yaml | k apply -f - >/dev/null
  fi
  wait_for "node kwok-gpu-0 to be Ready" \
    jp_is True node kwok-gpu-0 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'
}

no_pods_on_gpu_node() {
  local out
  out="$(k get pods --all-namespaces --field-selector spec.nodeName=kwok-gpu-0 -o name)" || return 1
  [[ -z "$out" ]] || { printf '%s\n' "$out"; return 1; }
}

# The DaemonSet has noticed: it wants a pod only on the GPU nodes left (none, unless
# `scripts/sandbox populate` added bench GPU nodes, which this fault leaves alone).
daemonset_caught_up() {
  local gpu_nodes
  gpu_nodes="$(k get nodes -l nvidia.com/gpu.present=true -o name | grep -c . || true)"
  jp_is "$gpu_nodes" -n kube-system daemonset/nvidia-device-plugin-daemonset \
    -o 'jsonpath={.status.desiredNumberScheduled}'
}

settle() {
  wait_for "node kwok-gpu-0 to be gone" absent node/kwok-gpu-0
  wait_for "the pods of kwok-gpu-0 to be gone" no_pods_on_gpu_node
  wait_for "the device-plugin DaemonSet to notice" daemonset_caught_up
}
