# shellcheck shell=bash disable=SC2034,SC2154 # fault_summary is read, state etc. set by the sourcing script
# Sourced by scripts/sandbox (tools/sandbox/scenario.sh); k, jp_is, wait_for are its helpers.
fault_summary="kwok-gpu-0 tainted dedicated=gpu-pool:NoSchedule instead of nvidia.com/gpu=present:NoSchedule"

taints_jsonpath='jsonpath={range .spec.taints[*]}{.key}={.value}:{.effect}{" "}{end}'

# A NoSchedule taint evicts nothing: the device-plugin pod that already runs there stays.
break_fault() {
  k patch node kwok-gpu-0 --type=json -p \
    '[{"op":"replace","path":"/spec/taints","value":[{"key":"dedicated","value":"gpu-pool","effect":"NoSchedule"}]}]' \
    >/dev/null
}

# The node is not part of the healthy apply (`up` creates it), so put the taint back here.
restore_fault() {
  k patch node kwok-gpu-0 --type=json -p \
    '[{"op":"replace","path":"/spec/taints","value":[{"key":"nvidia.com/gpu","value":"present","effect":"NoSchedule"}]}]' \
    >/dev/null
}

settle() {
  wait_for "the dedicated taint on kwok-gpu-0" \
    jp_is "dedicated=gpu-pool:NoSchedule " node kwok-gpu-0 -o "$taints_jsonpath"
}
