# shellcheck shell=bash disable=SC2034,SC2154 # fault_summary is read, state etc. set by the sourcing script
# Sourced by scripts/sandbox (tools/sandbox/scenario.sh); k, jp_is, wait_for are its helpers.
fault_summary="StorageClass standard no longer the default (is-default-class \"false\"); no other default"

break_fault() {
  k annotate --overwrite storageclass standard \
    storageclass.kubernetes.io/is-default-class=false >/dev/null
}

# The healthy apply (--force-conflicts) sets the annotation back to "true".
restore_fault() { :; }

settle() {
  wait_for "storageclass standard to be non-default" \
    jp_is false storageclass standard \
    -o 'jsonpath={.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}'
}
