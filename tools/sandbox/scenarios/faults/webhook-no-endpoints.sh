# shellcheck shell=bash disable=SC2034,SC2154 # fault_summary is read, state etc. set by the sourcing script
# Sourced by scripts/sandbox (tools/sandbox/scenario.sh); k, probe, wait_for are its helpers.
fault_summary="Deployment kubeflow/admission-webhook-deployment scaled to 0: Service admission-webhook-service has no ready endpoint"

break_fault() {
  k -n kubeflow scale deployment admission-webhook-deployment --replicas=0 >/dev/null
}

# The healthy apply owns spec.replicas and sets it back to 1; scaling here as well says so.
restore_fault() {
  k -n kubeflow scale deployment admission-webhook-deployment --replicas=1 >/dev/null
}

no_endpoints() {
  {
    k get -n kubeflow deployment/admission-webhook-deployment -o json
    k get -n kubeflow pods -l app=admission-webhook-deployment -o json
    k get -n kubeflow endpointslices -l kubernetes.io/service-name=admission-webhook-service -o json
  } | probe no-ready-endpoints admission-webhook-service
}

settle() { wait_for "admission-webhook-service to have no ready endpoint" no_endpoints; }
