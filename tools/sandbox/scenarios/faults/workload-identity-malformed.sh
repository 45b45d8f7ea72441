# shellcheck shell=bash disable=SC2034,SC2154 # fault_summary is read, state etc. set by the sourcing script
# Sourced by scripts/sandbox (tools/sandbox/scenario.sh); k, jp_is, wait_for are its helpers.
fault_summary="team-gpu ServiceAccount default-editor: iam.gke.io/gcp-service-account is kf-team-gpu, not an email"

break_fault() {
  k -n team-gpu annotate --overwrite serviceaccount default-editor \
    iam.gke.io/gcp-service-account=kf-team-gpu >/dev/null
}

# The healthy apply (--force-conflicts) sets the annotation back.
restore_fault() { :; }

settle() {
  wait_for "the malformed Workload Identity annotation" \
    jp_is kf-team-gpu -n team-gpu serviceaccount default-editor \
    -o 'jsonpath={.metadata.annotations.iam\.gke\.io/gcp-service-account}'
}
