"""kfpemu: a test-only emulator of the Kubeflow Pipelines REST API (v2beta1, healthz of v1beta1).

Written from the swagger specs in <shared>/kubeflow/api/ and the wire notes in
<shared>/docs/kubeflow-apis.md. Never shipped in the kfcheck binary.
"""

__all__ = ["swagger", "state", "server", "cli"]
