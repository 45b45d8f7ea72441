"""Multi-user mode (brief §1.11, §1.12, §7.7, §7.8) through kfp.Client and plain HTTP."""

from __future__ import annotations

import json

import kfp
import kfp_server_api
import pytest

from conftest import (ALICE, BOB, COOKIE_ALICE, CPU_TASKS, CPU_YAML, GPU_YAML, SA_A, TOK_A,
                      TOK_A_K8S_AUD, TOK_B, tasks_by_name)

V2 = "/apis/v2beta1"


def sdk(emu, token=TOK_A, namespace="team-a", **kw) -> kfp.Client:
    return kfp.Client(host=emu.url, existing_token=token, namespace=namespace, **kw)


def status_of(fn, *a, **kw) -> int:
    with pytest.raises(kfp_server_api.ApiException) as ei:
        fn(*a, **kw)
    return ei.value.status


def test_token_flow_end_to_end(emu_multi):
    c = sdk(emu_multi)
    assert c.get_kfp_healthz().multi_user is True
    exp = c.create_experiment("kfcheck", namespace="team-a")
    assert exp.namespace == "team-a"
    p = c.upload_pipeline(GPU_YAML, pipeline_name="gpu-a", namespace="team-a")
    assert p.namespace == "team-a"
    res = c.create_run_from_pipeline_package(CPU_YAML, run_name="mu", experiment_id=exp.experiment_id)
    run = c.wait_for_run_completion(res.run_id, timeout=15, sleep_duration=0.05)
    assert run.state == "SUCCEEDED" and run.service_account == "default-editor"
    assert set(tasks_by_name(run)) == set(CPU_TASKS)
    runs = c.list_runs(namespace="team-a")
    assert [r.run_id for r in runs.runs] == [res.run_id]
    assert c.list_pipelines(namespace="team-a").pipelines[0].pipeline_id == p.pipeline_id
    assert c.list_pipelines().pipelines is None  # shared pipelines only
    identities = {e["identity"] for e in emu_multi.requests_log() if e["identity"]}
    assert identities == {SA_A}


def test_wrong_namespace_is_403(emu_multi):
    c = sdk(emu_multi)
    assert status_of(c.list_runs, namespace="team-b") == 403
    assert status_of(c.list_experiments, namespace="team-b") == 403
    with pytest.raises(kfp_server_api.ApiException) as ei:
        c._experiment_api.experiment_service_create_experiment(
            experiment=kfp_server_api.V2beta1Experiment(display_name="x", namespace="team-b"))
    assert ei.value.status == 403
    body = json.loads(ei.value.body)
    assert body["code"] == 7 and SA_A in body["message"]
    # a run in someone else's experiment
    other = sdk(emu_multi, token=TOK_B, namespace="team-b").create_experiment(
        "b-exp", namespace="team-b")
    assert status_of(c.run_pipeline, other.experiment_id, "steal", CPU_YAML) == 403
    assert status_of(c.list_runs, experiment_id=other.experiment_id) == 403


def test_view_grant_allows_reads_only(emu_multi):
    sdk(emu_multi, token=TOK_B, namespace="team-b").create_experiment("b", namespace="team-b")
    h = {"kubeflow-userid": BOB}
    assert emu_multi.get(V2 + "/experiments", params={"namespace": "team-b"},
                         headers=h).status_code == 200
    r = emu_multi.post(V2 + "/experiments", json={"display_name": "x", "namespace": "team-b"},
                       headers=h)
    assert r.status_code == 403


def test_identity_rules(emu_multi):
    q = {"namespace": "team-a"}
    # no identity at all
    r = emu_multi.get(V2 + "/runs", params=q)
    assert r.status_code == 401 and r.json()["code"] == 16
    # direct bearer token whose audience is not pipelines.kubeflow.org
    c = sdk(emu_multi, token=TOK_A_K8S_AUD)
    assert status_of(c.list_runs, namespace="team-a") == 401
    assert status_of(sdk(emu_multi, token="unknown").list_runs, namespace="team-a") == 401
    # the header wins over the token
    r = emu_multi.get(V2 + "/runs", params=q,
                      headers={"kubeflow-userid": ALICE, "Authorization": f"Bearer {TOK_B}"})
    assert r.status_code == 200
    r = emu_multi.get(V2 + "/runs", params=q,
                      headers={"kubeflow-userid": BOB, "Authorization": f"Bearer {TOK_A}"})
    assert r.status_code == 403 and BOB in r.json()["message"]
    # healthz needs no identity
    assert emu_multi.get(V2 + "/healthz").json()["multi_user"] is True


def test_header_identity_via_sdk_context(emu_multi, _kfp_context):
    # kfp.Client reads client_authentication_header_{name,value} from its context file.
    _kfp_context.write_text(json.dumps({
        "namespace": "team-a",
        "client_authentication_header_name": "kubeflow-userid",
        "client_authentication_header_value": ALICE,
    }))
    c = kfp.Client(host=emu_multi.url)
    assert c.get_user_namespace() == "team-a"
    exp = c.create_experiment("alice-exp")
    assert exp.namespace == "team-a"
    assert c.list_experiments().total_size == 1


def test_multi_user_input_rules(emu_multi):
    h = {"Authorization": f"Bearer {TOK_A}"}
    r = emu_multi.post(V2 + "/experiments", json={"display_name": "nons"}, headers=h)
    assert r.status_code == 400 and "empty namespace" in r.json()["message"]
    r = emu_multi.get(V2 + "/experiments", headers=h)
    assert r.status_code == 400
    r = emu_multi.post(V2 + "/runs", json={"display_name": "r", "pipeline_spec": {
        "pipelineInfo": {"name": "p"}, "root": {}}}, headers=h)
    assert r.status_code == 400 and "Experiment id" in r.json()["message"]
    r = emu_multi.get(V2 + "/runs", headers=h)
    assert r.status_code == 400
    assert emu_multi.get(V2 + "/runs", params={"namespace": "team-a"}, headers=h).text == "{}"


def test_upload_authz_failure_is_400(emu_multi):
    files = {"uploadfile": ("p.yaml", open(CPU_YAML, "rb").read())}
    h = {"Authorization": f"Bearer {TOK_A}"}
    r = emu_multi.post(V2 + "/pipelines/upload", params={"name": "x", "namespace": "team-b"},
                       files=files, headers=h)
    assert r.status_code == 400
    assert set(r.json()) == {"error_message", "error_details"}
    assert "authorization" in r.json()["error_message"]
    # without identity but with a namespace: also the upload handler's 400
    r = emu_multi.post(V2 + "/pipelines/upload", params={"name": "y", "namespace": "team-a"},
                       files=files)
    assert r.status_code == 400
    # empty namespace: a shared pipeline, no authorization check
    r = emu_multi.post(V2 + "/pipelines/upload", params={"name": "shared"}, files=files)
    assert r.status_code == 200 and "namespace" not in r.json()
    c = sdk(emu_multi)
    assert c.list_pipelines().pipelines[0].display_name == "shared"
    # deleting a shared pipeline is checked against the kubeflow namespace
    assert status_of(c.delete_pipeline, r.json()["pipeline_id"]) == 403


def test_gateway_cookie_and_m2m_token(emu_multi):
    ui = emu_multi.url + "/pipeline"
    c = kfp.Client(host=ui, cookies=f"oauth2_proxy_kubeflow={COOKIE_ALICE}", namespace="team-a")
    assert c.get_kfp_healthz().multi_user is True  # the UI's healthz shape
    assert c.create_experiment("via-gateway").namespace == "team-a"
    # at the gateway (m2m overlay) the SA token's audience does not matter
    c2 = kfp.Client(host=ui, existing_token=TOK_A_K8S_AUD, namespace="team-a")
    assert c2.list_experiments().total_size == 1
    # no credentials: oauth2-proxy answers 401 for API routes
    r = emu_multi.get("/pipeline" + V2 + "/runs", params={"namespace": "team-a"})
    assert r.status_code == 401 and r.text == "Unauthorized"
    r = emu_multi.get("/pipeline" + V2 + "/runs", params={"namespace": "team-a"},
                      headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401 and r.text == "Jwt verification fails"


def test_runtime_grants_and_tokens(emu_multi):
    emu_multi.script(tokens={"tok-new": {"user": "carol@example.com"}},
                     grants={"carol@example.com": ["team-c"]})
    c = sdk(emu_multi, token="tok-new", namespace="team-c")
    assert c.create_experiment("c").namespace == "team-c"
    emu_multi.reset()
    assert status_of(sdk(emu_multi, token="tok-new", namespace="team-c").list_experiments) == 401
