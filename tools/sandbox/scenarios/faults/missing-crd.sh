# shellcheck shell=bash disable=SC2034,SC2154 # fault_summary is read, state etc. set by the sourcing script
# Sourced by scripts/sandbox (tools/sandbox/scenario.sh); k, ssa, absent, wait_for are its helpers.
fault_summary="CRD scheduledworkflows.kubeflow.org deleted"

crd=scheduledworkflows.kubeflow.org

break_fault() { k delete crd "$crd" --ignore-not-found >/dev/null; }

restore_fault() {
  ssa -f "$shared_dir/kubeflow/crds/kubeflow.org_scheduledworkflows.yaml" >/dev/null
  wait_for "CRD $crd to be Established" \
    jp_is True crd "$crd" -o 'jsonpath={.status.conditions[?(@.type=="Established")].status}'
}

# Gone from discovery too (what a client that lists API resources sees), not only the CRD object.
not_served() {
  absent crd "$crd" || return 1
  ! k get --raw /apis/kubeflow.org/v1beta1 2>/dev/null | grep -q '"name":"scheduledworkflows"'
}

settle() { wait_for "CRD $crd to be gone" not_served; }
