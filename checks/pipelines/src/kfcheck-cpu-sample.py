"""kfcheck CPU sample: three tiny steps that pass a parameter and a small artifact.

Used by kfcheck to prove that a cluster runs a real KFP v2 pipeline end to end: pods
schedule with explicit CPU/memory requests and limits, an artifact goes through the
pipeline root (object store) and an output parameter flows to the next step.

Container components only (no ``@dsl.component`` Python functions): those pip-install the
kfp package when the step starts, which fails on clusters without internet access and
adds a minute to every run. ``python:3.11-slim`` needs nothing besides the KFP launcher
that the backend injects. Caching is off so that every kfcheck run really executes.
"""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output, OutputPath

IMAGE = 'python:3.11-slim'

# Numbers arrive as text; int(float(...)) also accepts "10.0" should a backend render
# an integer parameter that way.
_MAKE_NUMBERS = '''
import os, sys
count, out = int(float(sys.argv[1])), sys.argv[2]
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as handle:
    handle.write("\\n".join(str(n) for n in range(1, count + 1)) + "\\n")
print(f"kfcheck: wrote {count} numbers to {out}")
'''

_SUM_NUMBERS = '''
import os, sys
numbers, out = sys.argv[1], sys.argv[2]
with open(numbers) as handle:
    total = sum(int(line) for line in handle if line.strip())
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as handle:
    handle.write(str(total))
print(f"kfcheck: sum is {total}")
'''

_CHECK_TOTAL = '''
import sys
count, total = int(float(sys.argv[1])), int(float(sys.argv[2]))
expected = count * (count + 1) // 2
if total != expected:
    sys.exit(f"kfcheck: sum {total} != expected {expected}")
print(f"kfcheck: cpu sample ok (sum {total})")
'''


@dsl.container_component
def make_numbers(count: int, numbers: Output[Dataset]):
    """Write the numbers 1..count to a small text artifact."""
    return dsl.ContainerSpec(
        image=IMAGE, command=['python3', '-c', _MAKE_NUMBERS, count, numbers.path])


@dsl.container_component
def sum_numbers(numbers: Input[Dataset], total: OutputPath(int)):
    """Read the artifact back and output the sum as a parameter."""
    return dsl.ContainerSpec(
        image=IMAGE, command=['python3', '-c', _SUM_NUMBERS, numbers.path, total])


@dsl.container_component
def check_total(count: int, total: int):
    """Fail the run unless the parameter that came through is the expected sum."""
    return dsl.ContainerSpec(image=IMAGE, command=['python3', '-c', _CHECK_TOTAL, count, total])


def _small(task: dsl.PipelineTask) -> dsl.PipelineTask:
    return (task.set_cpu_request('100m').set_cpu_limit('500m')
            .set_memory_request('64Mi').set_memory_limit('256Mi')
            .set_caching_options(False))


@dsl.pipeline(
    name='kfcheck-cpu-sample',
    description='kfcheck readiness sample: parameter and artifact passing on CPU nodes.')
def kfcheck_cpu_sample(count: int = 10):
    made = _small(make_numbers(count=count))
    summed = _small(sum_numbers(numbers=made.outputs['numbers']))
    _small(check_total(count=count, total=summed.outputs['total']))


PIPELINE = kfcheck_cpu_sample
