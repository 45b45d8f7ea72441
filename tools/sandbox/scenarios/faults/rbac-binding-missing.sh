# shellcheck shell=bash disable=SC2034,SC2154 # fault_summary is read, state etc. set by the sourcing script
# Sourced by scripts/sandbox (tools/sandbox/scenario.sh); k, absent, wait_for are its helpers.
fault_summary="RoleBinding default-editor deleted from profile namespace kubeflow-user-example-com"

break_fault() {
  k -n kubeflow-user-example-com delete rolebinding default-editor --ignore-not-found >/dev/null
}

# The healthy apply re-creates it.
restore_fault() { :; }

settle() {
  wait_for "rolebinding default-editor to be gone" \
    absent -n kubeflow-user-example-com rolebinding/default-editor
}
