# shellcheck shell=bash disable=SC2034,SC2154 # fault_summary is read, state etc. set by the sourcing script
# Sourced by scripts/sandbox (tools/sandbox/scenario.sh); k, absent, wait_for are its helpers.
fault_summary="Secret mlpipeline-minio-artifact deleted from profile namespace kubeflow-user-example-com"

break_fault() {
  k -n kubeflow-user-example-com delete secret mlpipeline-minio-artifact --ignore-not-found >/dev/null
}

# The healthy apply re-creates it, with the same keys (kept in the state dir).
restore_fault() { :; }

settle() {
  wait_for "secret mlpipeline-minio-artifact to be gone" \
    absent -n kubeflow-user-example-com secret/mlpipeline-minio-artifact
}
