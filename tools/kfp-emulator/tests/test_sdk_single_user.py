"""The real kfp SDK client (kfp.Client, kfp_server_api) against the emulator, single-user mode."""

from __future__ import annotations

import time

import kfp
import kfp_server_api
import pytest
import yaml

from conftest import CPU_TASKS, CPU_YAML, GPU_TASKS, GPU_YAML, tasks_by_name, wait_state

assert len(CPU_TASKS) >= 2, CPU_TASKS
MIDDLE, LAST = CPU_TASKS[-2], CPU_TASKS[-1]


def client(emu) -> kfp.Client:
    return kfp.Client(host=emu.url)


def wait_done(c: kfp.Client, run_id: str, timeout: float = 15) -> kfp_server_api.V2beta1Run:
    return c.wait_for_run_completion(run_id, timeout=timeout, sleep_duration=0.05)


def test_healthz(emu):
    h = client(emu).get_kfp_healthz()
    assert h.multi_user is False
    assert h.pipeline_store == "database"


def test_upload_and_run_cpu_sample_succeeds(emu):
    c = client(emu)
    exp = c.create_experiment("kfcheck-smoke", description="emulator test")
    assert exp.experiment_id and exp.storage_state == "AVAILABLE"
    # create_experiment is get-or-create by display_name (list with a numeric-enum filter).
    assert c.create_experiment("kfcheck-smoke").experiment_id == exp.experiment_id

    p = c.upload_pipeline(CPU_YAML, pipeline_name="kfcheck-cpu-sample")
    assert p.pipeline_id and p.display_name == "kfcheck-cpu-sample"
    assert c.get_pipeline_id("kfcheck-cpu-sample") == p.pipeline_id
    versions = c.list_pipeline_versions(p.pipeline_id).pipeline_versions
    assert len(versions) == 1
    spec = c.get_pipeline_version(p.pipeline_id, versions[0].pipeline_version_id).pipeline_spec
    assert spec["pipelineInfo"]["name"] == "kfcheck-cpu-sample"

    result = c.create_run_from_pipeline_package(
        CPU_YAML, arguments={"count": 5}, run_name="cpu smoke", experiment_id=exp.experiment_id)
    run = wait_done(c, result.run_id)
    assert run.state == "SUCCEEDED"
    assert run.experiment_id == exp.experiment_id
    assert run.runtime_config.parameters == {"count": 5}
    assert run.finished_at >= run.created_at
    assert run.scheduled_at is not None
    tasks = tasks_by_name(run)
    assert set(tasks) == set(CPU_TASKS)
    assert all(t.state == "SUCCEEDED" for t in tasks.values())
    # tasks ran in dependency order
    for a, b in zip(CPU_TASKS, CPU_TASKS[1:]):
        assert tasks[a].end_time <= tasks[b].start_time
    assert [s.state for s in run.state_history] == ["PENDING", "RUNNING", "SUCCEEDED"]
    assert run.service_account == "pipeline-runner"


def test_gpu_sample_inline_wrapper_and_version_reference(emu):
    c = client(emu)
    exp = c.create_experiment("gpu")
    inline = c.create_run_from_pipeline_package(GPU_YAML, run_name="gpu inline",
                                                experiment_id=exp.experiment_id)
    # The SDK wraps spec + platform spec; check the wire body the emulator saw.
    posts = [e for e in emu.requests_log()
             if e["method"] == "POST" and e["route"] == "/apis/v2beta1/runs"]
    assert set(posts[-1]["body"]["pipeline_spec"]) == {"pipeline_spec", "platform_spec"}
    assert wait_done(c, inline.run_id).state == "SUCCEEDED"

    p = c.upload_pipeline(GPU_YAML)  # name taken from pipelineInfo.name
    with open(GPU_YAML) as f:
        assert p.display_name == yaml.safe_load_all(f).__next__()["pipelineInfo"]["name"]
    v = c.list_pipeline_versions(p.pipeline_id).pipeline_versions[0]
    assert set(v.pipeline_spec) == {"pipeline_spec", "platform_spec"}
    run = c.run_pipeline(exp.experiment_id, "gpu from version", pipeline_id=p.pipeline_id,
                         version_id=v.pipeline_version_id)
    done = wait_done(c, run.run_id)
    assert done.state == "SUCCEEDED"
    assert done.pipeline_version_reference.pipeline_version_id == v.pipeline_version_id
    assert set(tasks_by_name(done)) == set(GPU_TASKS)

    v2 = c.upload_pipeline_version(GPU_YAML, "v2", pipeline_id=p.pipeline_id)
    assert v2.pipeline_id == p.pipeline_id and v2.display_name == "v2"
    assert c.list_pipeline_versions(p.pipeline_id).total_size == 2


def test_scripted_failure_at_task(emu):
    emu.script(runs=[{"match": "cpu fail*", "outcome": "fail", "task": MIDDLE,
                      "message": "OOMKilled"}])
    c = client(emu)
    res = c.create_run_from_pipeline_package(CPU_YAML, run_name="cpu fail 1",
                                             experiment_name="failures")
    run = wait_done(c, res.run_id)
    assert run.state == "FAILED"
    assert "OOMKilled" in run.error.message
    tasks = tasks_by_name(run)
    assert all(tasks[t].state == "SUCCEEDED" for t in CPU_TASKS[:-2])
    assert tasks[MIDDLE].state == "FAILED"
    assert tasks[MIDDLE].error.message == "OOMKilled"
    assert LAST not in tasks  # never started


def test_failure_from_name_marker(emu):
    c = client(emu)
    res = c.create_run_from_pipeline_package(CPU_YAML, run_name=f"smoke [emu:fail={LAST}]")
    run = wait_done(c, res.run_id)
    assert run.state == "FAILED"
    assert tasks_by_name(run)[LAST].state == "FAILED"


def test_hang_then_terminate_gives_canceled(emu):
    c = client(emu)
    res = c.create_run_from_pipeline_package(CPU_YAML, run_name=f"stuck [emu:hang={MIDDLE}]")
    run = wait_state(c, res.run_id, {"RUNNING"})
    time.sleep(0.4)  # far past the normal duration: still running
    run = c.get_run(res.run_id)
    assert run.state == "RUNNING"
    assert run.finished_at.year == 1970  # unfinished runs report the epoch
    assert tasks_by_name(run)[MIDDLE].state == "RUNNING"
    # The SDK does not treat CANCELED as finished (brief §1.7); its wait only times out.
    with pytest.raises(TimeoutError):
        c.wait_for_run_completion(res.run_id, timeout=0.2, sleep_duration=0.05)

    c.terminate_run(res.run_id)
    assert c.get_run(res.run_id).state == "CANCELING"
    run = wait_state(c, res.run_id, {"CANCELED"})
    assert run.finished_at.year > 1970
    tasks = tasks_by_name(run)
    assert tasks[MIDDLE].state == "CANCELED"
    assert LAST not in tasks
    assert [s.state for s in run.state_history][-2:] == ["CANCELING", "CANCELED"]


def test_list_runs_pagination_sort_filter(emu):
    c = client(emu)
    exp = c.create_experiment("paging")
    ids = []
    for i in range(5):
        ids.append(c.run_pipeline(exp.experiment_id, f"run-{i}", CPU_YAML).run_id)
    seen, token, pages = [], "", 0
    while True:
        page = c.list_runs(page_token=token, page_size=2, experiment_id=exp.experiment_id)
        pages += 1
        assert page.total_size == 5
        seen += [r.run_id for r in page.runs]
        token = page.next_page_token
        if not token:
            break
    assert pages == 3 and seen == ids  # default order: created_at ascending
    desc = c.list_runs(page_size=10, sort_by="created_at desc", experiment_id=exp.experiment_id)
    assert [r.run_id for r in desc.runs] == list(reversed(ids))
    flt = ('{"predicates":[{"operation":"EQUALS","key":"display_name",'
           '"stringValue":"run-3"}]}')
    only = c.list_runs(experiment_id=exp.experiment_id, filter=flt)
    assert [r.display_name for r in only.runs] == ["run-3"]


def test_empty_lists_are_empty_objects(emu):
    for path in ("/apis/v2beta1/runs", "/apis/v2beta1/experiments", "/apis/v2beta1/pipelines"):
        r = emu.get(path)
        assert r.status_code == 200 and r.text == "{}", (path, r.text)
    c = client(emu)
    assert c.list_runs().runs is None
    assert c.list_experiments().experiments is None
    assert c.list_pipelines().pipelines is None
    assert c.get_pipeline_id("nope") is None


def test_5xx_then_recovery(emu):
    c = client(emu)
    run = c.run_pipeline(c.create_experiment("x").experiment_id, "r", CPU_YAML)
    emu.script(faults=[{"method": "GET", "path": "/apis/v2beta1/runs/{run_id}", "status": 503,
                        "times": 2, "message": "upstream unavailable"}])
    for _ in range(2):
        with pytest.raises(kfp_server_api.ApiException) as ei:
            c.get_run(run.run_id)
        assert ei.value.status == 503
        assert '"code":14' in ei.value.body
    assert c.get_run(run.run_id).run_id == run.run_id
    # a raw, non-JSON body (what an Envoy sidecar sends)
    emu.script(faults=[{"path": "/apis/v2beta1/healthz", "status": 503,
                        "body": "upstream connect error or disconnect/reset before headers"}])
    r = emu.get("/apis/v2beta1/healthz")
    assert r.status_code == 503 and r.text.startswith("upstream connect error")
    assert emu.get("/apis/v2beta1/healthz").status_code == 200


def test_slow_responses(emu):
    emu.script(delays=[{"path": "/apis/v2beta1/experiments*", "delay_ms": 300, "times": 1}])
    c = client(emu)
    t0 = time.time()
    c.list_experiments()
    assert time.time() - t0 >= 0.3
    t0 = time.time()
    c.list_experiments()
    assert time.time() - t0 < 0.3


def test_archive_delete_and_cascade(emu):
    c = client(emu)
    exp = c.create_experiment("arch")
    run = c.run_pipeline(exp.experiment_id, "a", CPU_YAML)
    wait_done(c, run.run_id)
    c.archive_run(run.run_id)
    assert c.get_run(run.run_id).storage_state == "ARCHIVED"
    c.unarchive_run(run.run_id)
    c.archive_experiment(exp.experiment_id)
    assert c.get_experiment(experiment_id=exp.experiment_id).storage_state == "ARCHIVED"
    assert c.get_run(run.run_id).storage_state == "ARCHIVED"
    c.unarchive_experiment(exp.experiment_id)
    c.delete_run(run.run_id)
    with pytest.raises(kfp_server_api.ApiException) as ei:
        c.get_run(run.run_id)
    assert ei.value.status == 404

    p = c.upload_pipeline(CPU_YAML, pipeline_name="to-delete")
    with pytest.raises(kfp_server_api.ApiException) as ei:
        c.delete_pipeline(p.pipeline_id)  # versions exist, no cascade
    assert ei.value.status == 400
    for v in c.list_pipeline_versions(p.pipeline_id).pipeline_versions:
        c.delete_pipeline_version(p.pipeline_id, v.pipeline_version_id)
    c.delete_pipeline(p.pipeline_id)
    assert c.list_pipelines().pipelines is None
    c.delete_experiment(exp.experiment_id)
    assert c.list_experiments().experiments is None


def test_retry_after_failure(emu):
    emu.script(runs=[{"match": "flaky", "outcome": "fail", "times": 1}])
    c = client(emu)
    run = c.create_run_from_pipeline_package(CPU_YAML, run_name="flaky")
    assert wait_done(c, run.run_id).state == "FAILED"
    c._run_api.run_service_retry_run(run_id=run.run_id)
    assert wait_done(c, run.run_id).state == "SUCCEEDED"


def test_request_counts(emu):
    c = client(emu)
    run = c.create_run_from_pipeline_package(CPU_YAML, run_name="count")
    wait_done(c, run.run_id)
    counts = emu.counts()
    assert counts["POST /apis/v2beta1/runs"] == 1
    assert counts["GET /apis/v2beta1/runs/{run_id}"] >= 2
    assert counts["GET /apis/v2beta1/healthz"] == 1  # the client's constructor


def test_a_create_processed_then_its_answer_lost(emu):
    """drop "after": the run is stored, then the connection closes with no answer (what a client
    sees when a proxy or the network loses the response of a create that happened)."""
    c = client(emu)
    exp = c.create_experiment("lost").experiment_id
    emu.script(faults=[{"method": "POST", "path": "/apis/v2beta1/runs", "drop": "after",
                        "skip": 1}])
    first_run = c.run_pipeline(exp, "first", CPU_YAML)  # skipped: answered as usual
    with pytest.raises(Exception) as ei:
        c.run_pipeline(exp, "second", CPU_YAML)
    assert "ApiException" not in type(ei.value).__name__, "no HTTP answer at all"
    names = sorted(r.display_name for r in c.list_runs(experiment_id=exp).runs)
    assert names == ["first", "second"], "the second create was processed"
    c.delete_run(first_run.run_id)
    created = emu.get("/_emulator/created").json()["created"]
    runs = [(e["display_name"], e["deleted"]) for e in created if e["kind"] == "runs"]
    assert runs == [("first", True), ("second", False)]
    # drop "before": nothing is processed.
    emu.script(faults=[{"method": "POST", "path": "/apis/v2beta1/experiments", "drop": "before"}])
    with pytest.raises(Exception):
        c.create_experiment("never")
    assert [e.display_name for e in c.list_experiments().experiments] == ["lost"]
