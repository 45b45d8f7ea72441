#!/usr/bin/env python3
"""Has the sandbox settled? Reads `kubectl get ... -o json` output on stdin (several JSON
documents, one after the other; Lists are flattened), checks one state, exits 0 when it holds and
1 otherwise with the first reason on stdout. Used by scripts/sandbox's scenario `settle` steps,
which poll it. Python 3 stdlib only; prints no object data beyond names and states.

  probe.py healthy                   the healthy scenario's workloads (see healthy())
  probe.py deploy-crashloop NS NAME  Deployment NS/NAME rolled out to one CrashLoopBackOff pod and
                                     reported Available=False
  probe.py ds-crashloop NS NAME      DaemonSet NS/NAME rolled out to CrashLoopBackOff pods,
                                     none Ready
  probe.py snapshot                  digest lines of the objects given (see snapshot())
  probe.py no-ready-endpoints SVC    the Deployments given are scaled to 0 and observed, the Pods
                                     given are gone, SVC's EndpointSlices list no ready endpoint
"""

import json
import sys


def read_items():
    text = sys.stdin.read()
    dec = json.JSONDecoder()
    i, items = 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return items
        doc, i = dec.raw_decode(text, i)
        items.extend(doc.get("items", []) if doc.get("kind", "").endswith("List") else [doc])


def of_kind(items, kind, ns=None):
    return [o for o in items if o.get("kind") == kind
            and (ns is None or o["metadata"].get("namespace") == ns)]


def cond(obj, type_):
    for c in obj.get("status", {}).get("conditions") or []:
        if c.get("type") == type_:
            return c.get("status")
    return None


def name(o):
    m = o["metadata"]
    return f"{m['namespace']}/{m['name']}" if m.get("namespace") else m["name"]


def selected(pods, selector):
    want = selector.get("matchLabels", {})
    return [p for p in pods
            if all(p["metadata"].get("labels", {}).get(k) == v for k, v in want.items())]


def waiting_reason(pod):
    for s in pod.get("status", {}).get("containerStatuses") or []:
        w = s.get("state", {}).get("waiting")
        if w:
            return w.get("reason")
    return None


class NotYet(Exception):
    pass


def need(ok, why):
    if not ok:
        raise NotYet(why)


def deployment_rolled_out(d, pods):
    st, want = d.get("status", {}), d["spec"].get("replicas", 1)
    need(st.get("observedGeneration") == d["metadata"]["generation"],
         f"deployment {name(d)}: generation not observed yet")
    mine = selected(pods, d["spec"]["selector"])
    need(len(mine) == want, f"deployment {name(d)}: {len(mine)} pods, want {want}")
    return st, want, mine


def healthy(items):
    deploys = of_kind(items, "Deployment", "kubeflow")
    need(deploys, "no Deployments in kubeflow")
    pods = of_kind(items, "Pod")
    for d in deploys:
        st, want, mine = deployment_rolled_out(d, pods)
        for k in ("updatedReplicas", "readyReplicas", "availableReplicas"):
            need(st.get(k, 0) == want, f"deployment {name(d)}: {k} {st.get(k, 0)}, want {want}")
        need(cond(d, "Available") == "True", f"deployment {name(d)}: not Available")
        for p in mine:
            need(cond(p, "Ready") == "True", f"pod {name(p)}: not Ready")
    for ds in of_kind(items, "DaemonSet"):
        st = ds.get("status", {})
        need(st.get("observedGeneration") == ds["metadata"]["generation"],
             f"daemonset {name(ds)}: generation not observed yet")
        want = st.get("desiredNumberScheduled", 0)
        need(want >= 1, f"daemonset {name(ds)}: no node to run on")
        for k in ("updatedNumberScheduled", "numberReady", "numberAvailable"):
            need(st.get(k, 0) == want, f"daemonset {name(ds)}: {k} {st.get(k, 0)}, want {want}")
        mine = selected(pods, ds["spec"]["selector"])
        need(len(mine) == want, f"daemonset {name(ds)}: {len(mine)} pods, want {want}")
    slices = of_kind(items, "EndpointSlice", "kubeflow")
    for svc in ("admission-webhook-service", "cache-server"):
        ready = [e for s in slices
                 if s["metadata"].get("labels", {}).get("kubernetes.io/service-name") == svc
                 for e in s.get("endpoints") or []
                 if (e.get("conditions") or {}).get("ready")]
        need(ready, f"service kubeflow/{svc}: no ready endpoint yet")
    for n in of_kind(items, "Node"):
        need(cond(n, "Ready") == "True", f"node {name(n)}: not Ready")
        # The node lifecycle controller's taints (not-ready, unreachable) on a node that kwok has
        # just made Ready are removed a moment later; a settled node has none.
        for t in n.get("spec", {}).get("taints") or []:
            need(not t["key"].startswith("node.kubernetes.io/"),
                 f"node {name(n)}: still tainted {t['key']}")


def deploy_crashloop(items, ns, dname):
    d = next((o for o in of_kind(items, "Deployment", ns) if o["metadata"]["name"] == dname), None)
    need(d is not None, f"deployment {ns}/{dname} not found")
    _, _, mine = deployment_rolled_out(d, of_kind(items, "Pod", ns))
    for p in mine:
        need(waiting_reason(p) == "CrashLoopBackOff", f"pod {name(p)}: not in CrashLoopBackOff")
    need(cond(d, "Available") == "False", f"deployment {ns}/{dname}: still Available")


def ds_crashloop(items, ns, dname):
    ds = next((o for o in of_kind(items, "DaemonSet", ns) if o["metadata"]["name"] == dname), None)
    need(ds is not None, f"daemonset {ns}/{dname} not found")
    st = ds.get("status", {})
    need(st.get("observedGeneration") == ds["metadata"]["generation"],
         f"daemonset {name(ds)}: generation not observed yet")
    want = st.get("desiredNumberScheduled", 0)
    need(want >= 1 and st.get("updatedNumberScheduled", 0) == want,
         f"daemonset {name(ds)}: not rolled out")
    need(st.get("numberReady", 0) == 0, f"daemonset {name(ds)}: {st.get('numberReady')} ready")
    mine = selected(of_kind(items, "Pod", ns), ds["spec"]["selector"])
    need(len(mine) == want, f"daemonset {name(ds)}: {len(mine)} pods, want {want}")
    for p in mine:
        need(waiting_reason(p) == "CrashLoopBackOff", f"pod {name(p)}: not in CrashLoopBackOff")


def no_ready_endpoints(items, svc):
    for d in of_kind(items, "Deployment"):
        st = d.get("status", {})
        need(st.get("observedGeneration") == d["metadata"]["generation"],
             f"deployment {name(d)}: generation not observed yet")
        need(not st.get("replicas"), f"deployment {name(d)}: {st.get('replicas')} replicas left")
    pods = of_kind(items, "Pod")
    need(not pods, f"pod {name(pods[0])}: still there" if pods else "")
    for s in of_kind(items, "EndpointSlice"):
        if s["metadata"].get("labels", {}).get("kubernetes.io/service-name") != svc:
            continue
        for e in s.get("endpoints") or []:
            need(not (e.get("conditions") or {}).get("ready"),
                 f"service {svc}: endpoint still ready")


# Set by the API server or controllers, different after every re-creation or rollout.
VOLATILE_META = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
                 "selfLink")
VOLATILE_ANNOTATIONS = ("deployment.kubernetes.io/revision",
                        "deprecated.daemonset.template.generation",
                        "kubectl.kubernetes.io/last-applied-configuration")


def snapshot(items):
    """One line per object: kind, name, and a digest of what the scenarios set (metadata labels
    and annotations, spec, data; Profile status), without what the cluster changes by itself.
    Two equal snapshots mean the same desired state. Prints digests, never values."""
    import hashlib
    lines = []
    for o in items:
        o = json.loads(json.dumps(o))
        m = o["metadata"]
        for k in VOLATILE_META:
            m.pop(k, None)
        for k in VOLATILE_ANNOTATIONS:
            (m.get("annotations") or {}).pop(k, None)
        if o["kind"] != "Profile":
            o.pop("status", None)
        if o["kind"] == "Service":
            for k in ("clusterIP", "clusterIPs"):
                o["spec"].pop(k, None)
        digest = hashlib.sha256(json.dumps(o, sort_keys=True).encode()).hexdigest()[:12]
        lines.append(f"{o['kind']} {name(o)} {digest}")
    print("\n".join(sorted(lines)))


def main():
    args = sys.argv[1:]
    checks = {"healthy": healthy, "deploy-crashloop": deploy_crashloop,
              "ds-crashloop": ds_crashloop, "no-ready-endpoints": no_ready_endpoints}
    if args == ["snapshot"]:
        snapshot(read_items())
        return
    if not args or args[0] not in checks:
        sys.exit(__doc__)
    items = read_items()
    # Objects being deleted are on their way out: a settled state has none left.
    for o in items:
        if o.get("kind") == "Pod" and o["metadata"].get("deletionTimestamp"):
            print(f"pod {name(o)}: still terminating")
            sys.exit(1)
    try:
        checks[args[0]](items, *args[1:])
    except NotYet as e:
        print(e)
        sys.exit(1)


if __name__ == "__main__":
    main()
