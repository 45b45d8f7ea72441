"""Wire-level facts (brief §1.2–§1.9, §7) checked with plain HTTP."""

from __future__ import annotations

import io
import json
import sys
import time
import zipfile

import pytest
import requests
import yaml

from conftest import CPU_YAML, GPU_YAML, TOOL

V2 = "/apis/v2beta1"


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def upload(emu, path=CPU_YAML, filename="p.yaml", **params):
    return emu.post(V2 + "/pipelines/upload", params=params,
                    files={"uploadfile": (filename, read(path), "application/x-yaml")})


def inline_spec(path=CPU_YAML):
    docs = [d for d in yaml.safe_load_all(read(path)) if d]
    if len(docs) == 1:
        return docs[0]
    return {"pipeline_spec": docs[0], "platform_spec": docs[1]}


def experiment(emu, name="e", **extra):
    r = emu.post(V2 + "/experiments", json={"display_name": name, **extra})
    assert r.status_code == 200, r.text
    return r.json()["experiment_id"]


def test_healthz_shapes(emu):
    api = emu.get(V2 + "/healthz").json()
    assert api == {"commit_sha": api["commit_sha"], "tag_name": "2.17.0", "multi_user": False,
                   "pipeline_store": "database"}
    v1 = emu.get("/apis/v1beta1/healthz").json()
    assert set(v1) == {"commit_sha", "tag_name", "multi_user"}
    ui = emu.get("/pipeline" + V2 + "/healthz").json()
    assert ui["apiServerReady"] is True and ui["multi_user"] is False
    assert "apiServerTagName" in ui and "commit_sha" not in ui


def test_api_server_down_behind_ui(emu):
    emu.script(api_server_down=True)
    r = emu.get("/pipeline" + V2 + "/healthz")
    assert r.status_code == 200 and r.json()["apiServerReady"] is False
    assert emu.get("/pipeline" + V2 + "/runs").status_code == 503
    with pytest.raises(requests.ConnectionError):
        requests.get(emu.url + V2 + "/healthz", timeout=5)
    emu.script(api_server_down=False)
    assert emu.get(V2 + "/healthz").status_code == 200


def test_ui_proxy_paths(emu):
    assert emu.get("/pipeline" + V2 + "/runs").text == "{}"
    assert emu.post("/pipeline/apis/v1beta1/runs/x:reportMetrics").status_code == 403
    assert emu.get("/pipeline/apis/v2beta1/_proxy/x").status_code == 410
    assert "GET /pipeline/apis/v2beta1/runs" in emu.counts()


def test_unknown_fields_rejected_camel_case_accepted(emu):
    r = emu.post(V2 + "/experiments", json={"display_name": "a", "colour": "red"})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == 3 and "unknown field" in body["message"] and "error" not in body
    r = emu.post(V2 + "/experiments", json={"displayName": "camel"})
    assert r.status_code == 200 and r.json()["display_name"] == "camel"
    # wrapped body is wrong: the body IS the run (body: "run")
    r = emu.post(V2 + "/runs", json={"run": {"display_name": "x"}})
    assert r.status_code == 400 and 'unknown field "run"' in r.json()["message"]
    # type errors are input errors too
    r = emu.post(V2 + "/experiments", json={"display_name": 5})
    assert r.status_code == 400


def test_old_error_shape_and_old_fields(emu_old):
    r = emu_old.post(V2 + "/experiments", json={"display_name": "a", "colour": "red"})
    body = r.json()
    assert r.status_code == 400 and body["error"] == body["message"] and body["code"] == 3
    assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.Status"
    h = emu_old.get(V2 + "/healthz").json()
    assert h["tag_name"] == "2.5.0" and "pipeline_store" not in h
    p = upload(emu_old, name="old").json()
    assert "name" not in p and p["display_name"] == "old"
    assert emu_old.get(V2 + "/runs/nope").json()["code"] == 5
    # the SDK copes with a server that has no Pipeline.name and the old error body
    import kfp
    import kfp_server_api
    c = kfp.Client(host=emu_old.url)
    run = c.create_run_from_pipeline_package(CPU_YAML, run_name="old [emu:fail]")
    assert c.wait_for_run_completion(run.run_id, 15, sleep_duration=0.05).state == "FAILED"
    with pytest.raises(kfp_server_api.ApiException) as ei:
        c.get_run("nope")
    assert ei.value.status == 404 and json.loads(ei.value.body)["error"]


def test_new_error_shape_not_found(emu):
    r = emu.get(V2 + "/runs/does-not-exist")
    assert r.status_code == 404
    body = r.json()
    assert set(body) == {"code", "message", "details"} and body["code"] == 5
    assert emu.get(V2 + "/nothing-here").json() == {"code": 5, "message": "Not Found"}
    assert emu.http.put(emu.url + V2 + "/runs").status_code == 501


def test_upload_errors_use_error_message_shape(emu):
    r = emu.post(V2 + "/pipelines/upload", data=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and set(r.json()) == {"error_message", "error_details"}
    assert r.headers["Content-Type"].startswith("text/plain")
    r = emu.post(V2 + "/pipelines/upload", files={"wrongfield": ("p.yaml", b"x")})
    assert r.status_code == 400 and "no such file" in r.json()["error_message"]
    r = upload(emu, filename="p.txt")
    assert r.status_code == 400 and "Unexpected pipeline file format" in r.json()["error_message"]
    r = emu.post(V2 + "/pipelines/upload", files={"uploadfile": ("p.yaml", b"a: [")})
    assert r.status_code == 500 and "error_message" in r.json()
    assert upload(emu, name="dup").status_code == 200
    r = upload(emu, name="dup")
    assert r.status_code == 409 and "already exists" in r.json()["error_message"]
    r = emu.post(V2 + "/pipelines/upload_version",
                 files={"uploadfile": ("p.yaml", read(CPU_YAML))})
    assert r.status_code == 400 and "pipeline id" in r.json()["error_message"]


def test_upload_name_precedence_and_archives(emu):
    p = upload(emu, filename="from-file.yaml").json()
    assert p["name"] == "from-file.yaml"
    p = upload(emu, display_name="Shown", filename="x.yaml").json()
    assert p["name"] == "Shown" and p["display_name"] == "Shown"
    p = upload(emu, name="n1", display_name="d1").json()
    assert (p["name"], p["display_name"]) == ("n1", "d1")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pipeline.yaml", read(GPU_YAML))
    r = emu.post(V2 + "/pipelines/upload", params={"name": "zipped"},
                 files={"uploadfile": ("pkg.zip", buf.getvalue(), "application/zip")})
    assert r.status_code == 200, r.text
    pid = r.json()["pipeline_id"]
    r = emu.post(V2 + "/pipelines/upload_version",
                 params={"pipelineid": pid, "name": "v2", "description": "second"},
                 files={"uploadfile": ("p.yaml", read(GPU_YAML))})
    assert r.status_code == 200 and r.json()["pipeline_id"] == pid
    assert emu.get(f"{V2}/pipelines/names/zipped").json()["pipeline_id"] == pid


def test_run_bodies(emu):
    exp = experiment(emu)
    bare = {"display_name": "bare", "experiment_id": exp, "pipeline_spec": inline_spec(CPU_YAML),
            "runtime_config": {"parameters": {"count": 3}}}
    r = emu.post(V2 + "/runs", json=bare)
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["state"] == "PENDING" and run["finished_at"] == "1970-01-01T00:00:00Z"
    assert "run_details" in run and run["run_details"]["pipeline_context_id"].isdigit()
    wrapped = {"display_name": "wrapped", "experiment_id": exp,
               "pipeline_spec": inline_spec(GPU_YAML)}
    assert emu.post(V2 + "/runs", json=wrapped).status_code == 200
    # a bare two-document merge is wrong
    docs = list(yaml.safe_load_all(read(GPU_YAML)))
    merged = {**docs[0], **docs[1]}
    assert emu.post(V2 + "/runs", json={**wrapped, "pipeline_spec": merged}).status_code == 400
    bad = {"display_name": "bad", "experiment_id": exp,
           "pipeline_spec": {"pipeline_spec": docs[0], "extra": {}}}
    assert emu.post(V2 + "/runs", json=bad).status_code == 400
    assert emu.post(V2 + "/runs", json={"experiment_id": exp,
                                          "pipeline_spec": docs[0]}).status_code == 400
    assert emu.post(V2 + "/runs", json={"display_name": "nospec"}).status_code == 400
    r = emu.post(V2 + "/runs", json={"display_name": "x", "experiment_id": "nope",
                                      "pipeline_spec": docs[0]})
    assert r.status_code == 404
    # single-user: no experiment -> Default experiment
    r = emu.post(V2 + "/runs", json={"display_name": "default", "pipeline_spec": docs[0]})
    assert r.status_code == 200
    default = emu.get(V2 + "/experiments/" + r.json()["experiment_id"]).json()
    assert default["display_name"] == "Default"


def test_run_finishes_with_timestamps(emu):
    exp = experiment(emu)
    r = emu.post(V2 + "/runs", json={"display_name": "t", "experiment_id": exp,
                                      "pipeline_spec": inline_spec(CPU_YAML)}).json()
    deadline = time.time() + 10
    while True:
        run = emu.get(V2 + "/runs/" + r["run_id"]).json()
        if run["state"] == "SUCCEEDED" or time.time() > deadline:
            break
        time.sleep(0.05)
    assert run["state"] == "SUCCEEDED"
    assert run["finished_at"] != "1970-01-01T00:00:00Z"
    assert run["finished_at"].endswith("Z") and run["created_at"].endswith("Z")
    for t in run["run_details"]["task_details"]:
        assert t["state"] == "SUCCEEDED" and t["end_time"] and t["pod_name"]
    e = emu.get(V2 + "/experiments/" + exp).json()
    assert "last_run_created_at" in e


def test_pagination_rules(emu):
    for i in range(3):
        experiment(emu, f"e{i}")
    assert emu.get(V2 + "/experiments", params={"page_size": -1}).status_code == 400
    assert emu.get(V2 + "/experiments", params={"page_size": "x"}).status_code == 400
    body = emu.get(V2 + "/experiments", params={"page_size": 1000}).json()
    assert len(body["experiments"]) == 3 and "next_page_token" not in body
    first = emu.get(V2 + "/experiments", params={"page_size": 2, "sort_by": "display_name desc"}).json()
    assert [e["display_name"] for e in first["experiments"]] == ["e2", "e1"]
    # with a token, sort/filter come from the token
    nxt = emu.get(V2 + "/experiments", params={"page_size": 2, "page_token": first["next_page_token"]}).json()
    assert [e["display_name"] for e in nxt["experiments"]] == ["e0"] and nxt["total_size"] == 3
    assert emu.get(V2 + "/experiments", params={"page_token": "garbage"}).status_code == 400
    assert emu.get(V2 + "/experiments", params={"sort_by": "colour"}).status_code == 400
    flt = json.dumps({"predicates": [{"key": "display_name", "operation": 9,
                                      "string_value": "1"}]})
    body = emu.get(V2 + "/experiments", params={"filter": flt}).json()
    assert [e["display_name"] for e in body["experiments"]] == ["e1"]


def test_admin_endpoints(emu):
    st = emu.script(runs=[{"match": "x*", "outcome": "hang"}], timing={"task_ms": 10})
    assert st["runs"][0]["outcome"] == "hang" and st["timing"]["task_ms"] == 10
    assert emu.post("/_emulator/script", json={"nonsense": 1}).status_code == 400
    assert emu.get("/_emulator/requests").json()["total"] == 0
    emu.get(V2 + "/healthz", headers={"Authorization": "Bearer secret-token"})
    log = emu.requests_log()
    assert log[-1]["headers"]["authorization"].startswith("Bearer secr") and \
        "secret-token" not in json.dumps(log)
    assert emu.delete("/_emulator/requests").status_code == 200
    assert emu.get("/_emulator/requests").json() == {"total": 0, "counts": {}}
    emu.reset()
    assert emu.get("/_emulator/script").json()["runs"] == []
    assert emu.get("/_emulator/nope").status_code == 404


def test_violations_are_recorded_in_process():
    """The response validator catches an emulator bug (an output the swagger does not allow)."""
    sys.path.insert(0, TOOL)
    from kfpemu.cli import build_parser, make_emulator
    from kfpemu.server import Ctx, Reply

    emu = make_emulator(build_parser().parse_args([]))
    ctx = Ctx("GET", "/x", "/x", {}, {}, b"", False)
    emu.render(ctx, Reply(200, {"run_id": "r", "state": "DONE", "colour": 1}, "v2beta1Run"))
    emu.render(ctx, Reply(200, {"experiment_id": "e", "created_at": "yesterday"},
                          "v2beta1Experiment"))
    assert len(emu.violations) == 2
    assert any("colour" in e for e in emu.violations[0]["errors"])
    assert any("date-time" in e for e in emu.violations[1]["errors"])
    # pruning: zero values are omitted like protojson with EmitUnpopulated=false
    status, data, _ = emu.render(ctx, Reply(200, {"runs": [], "total_size": 0,
                                                  "next_page_token": ""},
                                            "v2beta1ListRunsResponse"))
    assert data == b"{}"


def test_fault_bodies_count_and_pad(emu):
    emu.script(faults=[{"method": "GET", "path": V2 + "/experiments", "status": 200, "times": 2,
                        "content_type": "application/json", "pad_to": 4096,
                        "body": '{"experiments":[],"next_page_token":"page-{n}"}'}])
    for n in (1, 2):
        r = emu.get(V2 + "/experiments")
        assert len(r.content) == 4096 and r.json()["next_page_token"] == f"page-{n}"
    assert "next_page_token" not in emu.get(V2 + "/experiments").json()
    r = emu.post("/_emulator/script", json={"faults": [{"path": "/x", "drop": "sideways"}]})
    assert r.status_code == 400 and "drop must be before or after" in r.text
