# shellcheck shell=bash disable=SC2034,SC2154 # fault_summary is read, state etc. set by the sourcing script
# Sourced by scripts/sandbox (tools/sandbox/scenario.sh); k, jp_is, wait_for are its helpers.
fault_summary="namespace kubeflow-user-example-com without label pipelines.kubeflow.org/enabled"

break_fault() {
  k label namespace kubeflow-user-example-com pipelines.kubeflow.org/enabled- >/dev/null 2>&1 || true
}

# The healthy apply puts the label back (it is in the applied configuration).
restore_fault() { :; }

settle() {
  wait_for "the label to be gone" \
    jp_is "" namespace kubeflow-user-example-com \
    -o 'jsonpath={.metadata.labels.pipelines\.kubeflow\.org/enabled}'
}
