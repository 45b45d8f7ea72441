# shellcheck shell=bash disable=SC2034,SC2154 # fault_summary is read, state etc. set by the sourcing script
# Sourced by scripts/sandbox (tools/sandbox/scenario.sh); k, absent, wait_for are its helpers.
fault_summary="PodDefault access-ml-pipeline deleted from profile namespace team-gpu"

break_fault() {
  k -n team-gpu delete poddefaults.kubeflow.org access-ml-pipeline --ignore-not-found >/dev/null
}

# The healthy apply re-creates it.
restore_fault() { :; }

settle() {
  wait_for "poddefault access-ml-pipeline to be gone" \
    absent -n team-gpu poddefaults.kubeflow.org/access-ml-pipeline
}
