"""Bearer tokens checked the way KFP's API server checks them: a TokenReview against a real
Kubernetes API server, with the audience pipelines.kubeflow.org. Used with --token-review
KUBECONFIG (the sandbox's admin kubeconfig); only client-certificate kubeconfigs with file
paths, as scripts/sandbox writes them, are supported."""

import json
import ssl
import urllib.request
from typing import List, Optional, Tuple

import yaml


class TokenReviewer:
    def __init__(self, kubeconfig: str):
        with open(kubeconfig, encoding="utf-8") as f:
            kc = yaml.safe_load(f)
        ctx_name = kc.get("current-context")
        ctx = next(c["context"] for c in kc["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in kc["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in kc["users"] if u["name"] == ctx["user"])
        self.server = cluster["server"].rstrip("/")
        self.ssl = ssl.create_default_context(cafile=cluster.get("certificate-authority"))
        if user.get("client-certificate"):
            self.ssl.load_cert_chain(user["client-certificate"], user.get("client-key"))
        self.reviews = 0

    def review(self, token: str, audience: str) -> Tuple[Optional[str], List[str], str]:
        """(username or None, audiences, error) for `token`."""
        body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                           "spec": {"token": token, "audiences": [audience]}}).encode()
        req = urllib.request.Request(f"{self.server}/apis/authentication.k8s.io/v1/tokenreviews",
                                     data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        self.reviews += 1
        with urllib.request.urlopen(req, context=self.ssl, timeout=10) as r:
            status = json.loads(r.read()).get("status", {})
        if not status.get("authenticated"):
            return None, status.get("audiences", []), status.get("error", "not authenticated")
        return status.get("user", {}).get("username"), status.get("audiences", []), ""
