# shellcheck shell=bash disable=SC2034,SC2154 # fault_summary is read, state etc. set by the sourcing script
# Sourced by scripts/sandbox (tools/sandbox/scenario.sh); k, probe, wait_for are its helpers.
fault_summary="Deployment kubeflow/ml-pipeline Available=False, its pod in CrashLoopBackOff"

# Recreate: the old, Ready pod goes first (with RollingUpdate it would stay until the new one is
# Ready, never, and the Deployment would stay Available). The label makes kwok's pod-crashloop
# stage act on the new pod.
break_fault() {
  k -n kubeflow patch deployment ml-pipeline --type=merge -p \
    '{"spec":{"strategy":{"type":"Recreate","rollingUpdate":null},"template":{"metadata":{"labels":{"kfcheck.sandbox/fault":"crashloop"}}}}}' \
    >/dev/null
}

# Back to the default strategy (RollingUpdate, 25%/25%) without the label; the healthy apply owns
# neither field.
restore_fault() {
  k -n kubeflow patch deployment ml-pipeline --type=merge -p \
    '{"spec":{"strategy":{"type":"RollingUpdate"},"template":{"metadata":{"labels":{"kfcheck.sandbox/fault":null}}}}}' \
    >/dev/null
}

crashlooping() {
  {
    k get -n kubeflow deployment/ml-pipeline -o json
    k get -n kubeflow pods -l app=ml-pipeline -o json
  } | probe deploy-crashloop kubeflow ml-pipeline
}

settle() { wait_for "ml-pipeline to be unavailable and crash-looping" crashlooping; }
