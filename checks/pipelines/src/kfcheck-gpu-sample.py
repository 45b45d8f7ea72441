"""kfcheck GPU sample: one step on a CUDA base image that must see an NVIDIA GPU.

Requests one ``nvidia.com/gpu`` with CPU/memory requests and limits, and pins the pod to
GPU nodes with kfp-kubernetes: node selector ``cloud.google.com/gke-accelerator`` (GKE's
GPU node label) and a toleration for the usual ``nvidia.com/gpu:NoSchedule`` taint. The
platform config makes the compiled file a two-document YAML (pipeline spec, then
``platforms.kubernetes``).

The step lists the GPUs with ``nvidia-smi`` (mounted by the NVIDIA container toolkit, so
the base image needs no driver) and fails when none is visible; the first GPU's name is
an output parameter that kfcheck reads from the run. Caching is off so every run
really schedules on a GPU node.
"""

from kfp import dsl, kubernetes
from kfp.dsl import OutputPath

IMAGE = 'nvidia/cuda:12.4.1-base-ubuntu22.04'

# GKE accelerator label value of the default sample (L4, GKE's current general-purpose GPU and
# the sandbox's GPU pool); a suite for another GPU type uses
# its own compiled pipeline.
GKE_ACCELERATOR = 'nvidia-l4'

_PROBE = '''set -eu
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader
name="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)"
if [ -z "$name" ]; then echo "kfcheck: no GPU visible" >&2; exit 1; fi
mkdir -p "$(dirname "$1")"
printf '%s' "$name" > "$1"
echo "kfcheck: gpu sample ok ($name)"
'''


@dsl.container_component
def gpu_probe(gpu_name: OutputPath(str)):
    """List the GPUs visible in the container and output the first one's name."""
    return dsl.ContainerSpec(image=IMAGE, command=['sh', '-c', _PROBE, 'gpu-probe', gpu_name])


@dsl.pipeline(
    name='kfcheck-gpu-sample',
    description='kfcheck readiness sample: one step that must see an NVIDIA GPU.')
def kfcheck_gpu_sample():
    probe = gpu_probe()
    (probe.set_accelerator_type('nvidia.com/gpu').set_accelerator_limit(1)
     .set_cpu_request('500m').set_cpu_limit('1')
     .set_memory_request('512Mi').set_memory_limit('1Gi')
     .set_caching_options(False))
    kubernetes.add_node_selector(probe, 'cloud.google.com/gke-accelerator', GKE_ACCELERATOR)
    kubernetes.add_toleration(probe, key='nvidia.com/gpu', operator='Exists', effect='NoSchedule')


PIPELINE = kfcheck_gpu_sample
