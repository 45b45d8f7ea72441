#!/usr/bin/env python3
"""Object generators for scripts/sandbox (scenarios and populate). Python 3 stdlib only.

  gen.py profiles --state DIR            the healthy profiles (scenarios/healthy/profiles.conf)
                                         rendered from profile.yaml.in, with their Secrets
  gen.py profile-status [NAME...]        Profiles carrying status Successful=True, for
                                         `kubectl apply --server-side --subresource=status`
  gen.py gcp-secret --state DIR --malformed
                                         Secret user-gcp-sa with a broken key (fault
                                         malformed-gcp-key)
  gen.py gcp-key-check --state DIR [--expect good|malformed]
                                         exit 0 if the key file in the cluster's Secret (JSON on
                                         stdin, `kubectl get secret -o json`) is the generated
                                         one (or its malformed variant); 1 otherwise. Prints no
                                         secret.
  gen.py populate --out DIR --nodes N --pods P --profiles R
                                         benchmark objects as YAML chunk files (see below)
  gen.py node NAME [--gpu]               one kwok node, as `scripts/sandbox up` creates them

Everything that holds a secret goes to stdout (piped into kubectl) or to files of mode 600 in
the state dir; nothing secret is ever printed to the terminal or a log.
"""

import argparse
import base64
import json
import os
import secrets
import string
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HEALTHY = os.path.join(HERE, "scenarios", "healthy")
PROJECT = "kfcheck-sandbox"
SA_EMAIL = f"{PROJECT}@{PROJECT}.iam.gserviceaccount.com"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def dump(docs, out=sys.stdout):
    # JSON is YAML: one document per object, which kubectl reads as a multi-document stream.
    for d in docs:
        out.write("---\n")
        out.write(d if isinstance(d, str) else json.dumps(d, separators=(",", ":")))
        out.write("\n")


def write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)


def secrets_dir(state):
    d = os.path.join(state, "secrets")
    os.makedirs(d, mode=0o700, exist_ok=True)
    return d


# ---------------------------------------------------------------------------------------------
# Profiles


def read_profiles():
    out = []
    with open(os.path.join(HEALTHY, "profiles.conf")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, owner, gsa, key = line.split()
            out.append({"name": name, "owner": owner, "gsa": None if gsa == "-" else gsa,
                        "gcp_key": key == "yes"})
    return out


def render_profile(name, owner, gsa, accesskey, secretkey):
    with open(os.path.join(HEALTHY, "profile.yaml.in")) as f:
        template = f.read()
    # The file's own comments come first; they are not part of the objects.
    body = "\n".join(l for l in template.splitlines() if not l.startswith("#")) + "\n"
    if gsa:
        plugins = json.dumps([{"kind": "WorkloadIdentity", "spec": {"gcpServiceAccount": gsa}}])
        annotations = json.dumps({"iam.gke.io/gcp-service-account": gsa})
    else:
        plugins, annotations = "[]", "{}"
    return string.Template(body).substitute(
        namespace=name, owner=owner, plugins=plugins, editor_annotations=annotations,
        minio_accesskey_b64=b64(accesskey), minio_secretkey_b64=b64(secretkey))


def minio_credentials(state, namespace):
    """Random per-namespace object-store credentials, made once and kept in the state dir so
    that re-applying the healthy scenario changes nothing."""
    path = os.path.join(secrets_dir(state), f"minio-{namespace}.json")
    if not os.path.exists(path):
        write_private(path, json.dumps({"accesskey": "kf" + secrets.token_hex(8),
                                        "secretkey": secrets.token_urlsafe(30)}))
    with open(path) as f:
        c = json.load(f)
    return c["accesskey"], c["secretkey"]


def gcp_key(state):
    """A well-formed Google service-account key file (the format `gcloud iam service-accounts
    keys create` writes) around an RSA 2048 key that openssl makes here. Made once per state dir."""
    path = os.path.join(secrets_dir(state), "user-gcp-sa.json")
    if not os.path.exists(path):
        pem = subprocess.run(
            ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            check=True, capture_output=True, text=True).stdout
        if not pem.startswith("-----BEGIN PRIVATE KEY-----"):
            sys.exit("gen.py: openssl did not write a PKCS#8 key")
        key = {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": SA_EMAIL,
            "client_id": str(100000000000000000000 + secrets.randbelow(10**20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
                                    + SA_EMAIL.replace("@", "%40"),
            "universe_domain": "googleapis.com",
        }
        write_private(path, json.dumps(key, indent=2) + "\n")
    with open(path) as f:
        return f.read()


def malformed_gcp_key(state):
    """The generated key with its PEM body cut short mid-line (not valid base64 or DER any
    more, though the BEGIN/END lines remain) and without client_email."""
    key = json.loads(gcp_key(state))
    lines = key["private_key"].strip().splitlines()
    key["private_key"] = "\n".join([lines[0], lines[1], lines[2][:37], lines[-1]]) + "\n"
    del key["client_email"]
    return json.dumps(key, indent=2) + "\n"


def gcp_secret(namespace, content):
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "user-gcp-sa", "namespace": namespace},
            "data": {"user-gcp-sa.json": b64(content)}}


def profile_status(name):
    return {"apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": {"name": name},
            "status": {"conditions": [{"type": "Successful", "status": "True", "message": ""}]}}


def cmd_profiles(a):
    docs = []
    for p in read_profiles():
        ak, sk = minio_credentials(a.state, p["name"])
        docs.append(render_profile(p["name"], p["owner"], p["gsa"], ak, sk).strip())
        if p["gcp_key"]:
            docs.append(gcp_secret(p["name"], gcp_key(a.state)))
    dump(docs)


def cmd_profile_status(a):
    names = a.names or [p["name"] for p in read_profiles()]
    dump(profile_status(n) for n in names)


def cmd_gcp_secret(a):
    ns = next(p["name"] for p in read_profiles() if p["gcp_key"])
    dump([gcp_secret(ns, malformed_gcp_key(a.state) if a.malformed else gcp_key(a.state))])


def cmd_gcp_key_check(a):
    secret = json.load(sys.stdin)
    try:
        have = base64.b64decode(secret["data"]["user-gcp-sa.json"]).decode()
    except (KeyError, ValueError):
        sys.exit(1)
    want = malformed_gcp_key(a.state) if a.expect == "malformed" else gcp_key(a.state)
    sys.exit(0 if have == want else 1)


# ---------------------------------------------------------------------------------------------
# Nodes (the same shape as scripts/sandbox's nodes_yaml)


def node(name, gpu):
    labels = {"type": "kwok", "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
              "kubernetes.io/hostname": name, "node-role.kubernetes.io/worker": ""}
    cap = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    spec = {}
    if gpu:
        labels.update({"cloud.google.com/gke-accelerator": "nvidia-l4",
                       "nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-L4",
                       "nvidia.com/gpu.count": "8"})
        cap = {"cpu": "48", "memory": "192Gi", "pods": "110", "ephemeral-storage": "100Gi",
               "nvidia.com/gpu": "8"}
        spec = {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels,
                     "annotations": {"kwok.x-k8s.io/node": "fake",
                                     "node.alpha.kubernetes.io/ttl": "0"}},
        "spec": spec,
        "status": {"capacity": cap, "allocatable": dict(cap),
                   "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                                "kubeletVersion": "fake", "kubeProxyVersion": "fake"}},
    }


def cmd_node(a):
    dump([node(a.name, a.gpu)])


# ---------------------------------------------------------------------------------------------
# populate


def chunks(seq, size):
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def cmd_populate(a):
    """Writes, under --out:
      nodes-NNN.yaml     kwok-bench-NNNN nodes (every tenth a GPU node like kwok-gpu-0)
      profiles-NNN.yaml  bench-profile-NNNN profiles, each with the full per-profile object set
                         (Workload Identity instead of a key Secret); namespace first
      status.yaml        their Profile status (Successful=True)
      pods-NNN.yaml      pods bound to the bench nodes through spec.nodeName (no scheduler),
                         spread over the bench-profile namespaces (bench-pods without profiles)
    Each file is one `kubectl create`/`apply` call; the script runs them in parallel."""
    os.makedirs(a.out, exist_ok=True)
    nodes = [node(f"kwok-bench-{i:04d}", i % 10 == 9) for i in range(a.nodes)]
    for n in nodes:
        n["metadata"]["labels"]["kfcheck.sandbox/bench"] = "true"
    for i, c in enumerate(chunks(nodes, a.chunk)):
        with open(os.path.join(a.out, f"nodes-{i:03d}.yaml"), "w") as f:
            dump(c, f)

    profiles = [f"bench-profile-{i:04d}" for i in range(a.profiles)]
    per_file = max(1, a.chunk // 12)  # about 12 objects a profile
    for i, c in enumerate(chunks(profiles, per_file)):
        fd = os.open(os.path.join(a.out, f"profiles-{i:03d}.yaml"),
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds Secrets
        with os.fdopen(fd, "w") as f:
            for name in c:
                gsa = f"kf-{name}@{PROJECT}.iam.gserviceaccount.com"
                f.write("---\n")
                f.write(render_profile(name, f"{name}@example.com", gsa,
                                       "kf" + secrets.token_hex(8), secrets.token_urlsafe(30)))
    with open(os.path.join(a.out, "status.yaml"), "w") as f:
        dump((profile_status(n) for n in profiles), f)

    namespaces = profiles or ["bench-pods"]
    if not profiles and a.pods:
        with open(os.path.join(a.out, "namespaces.yaml"), "w") as f:
            dump([{"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "bench-pods", "labels": {"kfcheck.sandbox/bench": "true"}}},
                  {"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": "default", "namespace": "bench-pods"}}], f)
    if a.pods and not nodes:
        sys.exit("gen.py: --pods needs --nodes (pods are bound to the bench nodes)")
    gpus_used = {}
    pods = []
    for i in range(a.pods):
        n = nodes[i % len(nodes)]
        name = n["metadata"]["name"]
        spec = {
            "nodeName": name,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "main", "image": "ghcr.io/kubeflow/kfcheck-sandbox/bench:fake",
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}],
        }
        if "nvidia.com/gpu" in n["status"]["capacity"]:
            spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists",
                                    "effect": "NoSchedule"}]
            # At most the node's 8 GPUs are handed out, as a kubelet would enforce.
            if gpus_used.get(name, 0) < 8:
                gpus_used[name] = gpus_used.get(name, 0) + 1
                spec["containers"][0]["resources"]["limits"] = {"nvidia.com/gpu": "1"}
        ns = namespaces[i % len(namespaces)]
        pods.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": f"bench-{i:06d}", "namespace": ns,
                                  "labels": {"app": "bench", "kfcheck.sandbox/bench": "true"}},
                     "spec": spec})
    for i, c in enumerate(chunks(pods, a.chunk)):
        with open(os.path.join(a.out, f"pods-{i:03d}.yaml"), "w") as f:
            dump(c, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("profiles"); p.add_argument("--state", required=True)
    p.set_defaults(fn=cmd_profiles)
    p = sub.add_parser("profile-status"); p.add_argument("names", nargs="*")
    p.set_defaults(fn=cmd_profile_status)
    p = sub.add_parser("gcp-secret"); p.add_argument("--state", required=True)
    p.add_argument("--malformed", action="store_true"); p.set_defaults(fn=cmd_gcp_secret)
    p = sub.add_parser("gcp-key-check"); p.add_argument("--state", required=True)
    p.add_argument("--expect", choices=["good", "malformed"], default="good")
    p.set_defaults(fn=cmd_gcp_key_check)
    p = sub.add_parser("node"); p.add_argument("name"); p.add_argument("--gpu", action="store_true")
    p.set_defaults(fn=cmd_node)
    p = sub.add_parser("populate")
    p.add_argument("--out", required=True)
    p.add_argument("--nodes", type=int, default=0)
    p.add_argument("--pods", type=int, default=0)
    p.add_argument("--profiles", type=int, default=0)
    p.add_argument("--chunk", type=int, default=500)
    p.set_defaults(fn=cmd_populate)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
