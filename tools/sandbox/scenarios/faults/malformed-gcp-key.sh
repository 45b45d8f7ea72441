# shellcheck shell=bash disable=SC2034,SC2154 # fault_summary is read, state etc. set by the sourcing script
# Sourced by scripts/sandbox (tools/sandbox/scenario.sh); k, gen, wait_for are its helpers.
fault_summary="Secret user-gcp-sa in kubeflow-user-example-com: key file without client_email, private_key not valid PEM"

# The generated key with its PEM body cut short and client_email removed (gen.py), applied by a
# field manager of its own; the healthy apply (--force-conflicts) takes the field back.
break_fault() {
  gen gcp-secret --state "$state" --malformed \
    | k apply --server-side --force-conflicts --field-manager kfcheck-sandbox-fault -f - >/dev/null
}

restore_fault() { :; }

gcp_key_is_malformed() {
  k -n kubeflow-user-example-com get secret user-gcp-sa -o json \
    | gen gcp-key-check --state "$state" --expect malformed
}

settle() { wait_for "the malformed key in secret user-gcp-sa" gcp_key_is_malformed; }
