# shellcheck shell=bash disable=SC2034,SC2154 # fault_summary is read, state etc. set by the sourcing script
# Sourced by scripts/sandbox (tools/sandbox/scenario.sh); k, probe, wait_for are its helpers.
fault_summary="device-plugin pod on kwok-gpu-0 in CrashLoopBackOff, not Ready (kube-system/nvidia-device-plugin-daemonset)"

# The pod template gets the label that kwok's pod-crashloop stage acts on
# (tools/sandbox/kwok-stages/); the DaemonSet rolls out a new pod, which "crashes".
break_fault() {
  k -n kube-system patch daemonset nvidia-device-plugin-daemonset --type=strategic -p \
    '{"spec":{"template":{"metadata":{"labels":{"kfcheck.sandbox/fault":"crashloop"}}}}}' >/dev/null
}

# The healthy apply does not own this label, so it would stay: remove it (null deletes the key;
# a no-op when it is not there).
restore_fault() {
  k -n kube-system patch daemonset nvidia-device-plugin-daemonset --type=strategic -p \
    '{"spec":{"template":{"metadata":{"labels":{"kfcheck.sandbox/fault":null}}}}}' >/dev/null
}

crashlooping() {
  {
    k get -n kube-system daemonset/nvidia-device-plugin-daemonset -o json
    k get -n kube-system pods -l name=nvidia-device-plugin-ds -o json
  } | probe ds-crashloop kube-system nvidia-device-plugin-daemonset
}

settle() { wait_for "the device-plugin pod to be in CrashLoopBackOff" crashlooping; }
