"""Standard consumers read kfcheck's reports: the JSON through the `jsonschema` package against
schema/report.schema.json, the JUnit XML through `junitparser` (what CI plugins use), the
Markdown through `markdown-it-py` with GitHub's table extension (a CI step summary). Runs real
kfcheck commands; exits non-zero on the first mismatch and prints `N passed, N failed`."""

import json
import os
import subprocess
import sys
import tempfile

import jsonschema
from junitparser import Error, Failure, JUnitXml, Skipped
from markdown_it import MarkdownIt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KFCHECK = os.path.join(ROOT, "target", "debug", "kfcheck")
SCHEMA = json.load(open(os.path.join(ROOT, "schema", "report.schema.json")))

passed = failed = 0


def case(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok   {name}")
    except Exception as e:  # noqa: BLE001 - report every failure the same way
        failed += 1
        print(f"FAIL {name}: {e!r}")


def run(*args, env_extra=None):
    env = dict(os.environ, NO_COLOR="1", HOME="/nonexistent-home")
    env.pop("KUBECONFIG", None)
    env.update(env_extra or {})
    return subprocess.run([KFCHECK, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def reports(*args):
    d = tempfile.mkdtemp()
    j, x = os.path.join(d, "r.json"), os.path.join(d, "r.xml")
    p = run(*args, "--report", f"json={j}", "--report", f"junit={x}")
    return p, json.load(open(j)), JUnitXml.fromfile(x)


def failing_lint():
    p, doc, xml = reports("lint", "fixtures/pipelines/v2/fail")
    assert p.returncode == 1, p.returncode
    jsonschema.validate(doc, SCHEMA)
    assert doc["summary"]["failed"] == 1
    cases = [c for suite in xml for c in suite]
    assert len(cases) == 1 and cases[0].name == "lint"
    assert any(isinstance(r, Failure) for r in cases[0].result)
    assert "limit-below-request" in cases[0].result[0].text


def lint_junit_per_file():
    d = tempfile.mkdtemp()
    x = os.path.join(d, "r.xml")
    p = run("lint", "fixtures/pipelines/v2", "--junit-per-file", "--report", f"junit={x}", "-o", "json")
    assert p.returncode == 1, p.returncode
    doc = json.loads(p.stdout)
    files = doc["checks"][0]["figures"]["lint_files"]
    cases = {c.name: c for suite in JUnitXml.fromfile(x) for c in suite}
    assert set(cases) == set(files), sorted(set(cases) ^ set(files))
    failed = {n for n, c in cases.items() if any(isinstance(r, Failure) for r in c.result)}
    assert failed and all("/fail/" in n for n in failed), sorted(failed)
    assert all(not cases[n].result for n in files if "/pass/" in n)
    flagged = {f["subject"]["file"] for f in doc["checks"][0]["findings"] if f["severity"] == "error"}
    assert failed == flagged, sorted(failed ^ flagged)


def mixed_suite():
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "slow.yaml"), "w") as f:
        f.write("id: slow\nkind: exec\ntitle: slow\ncategory: site\ntimeout: 1s\nparams:\n  command: [sleep, '20']\n")
    p, doc, xml = reports("--suite", d, "all")
    assert p.returncode == 3, (p.returncode, p.stderr)
    jsonschema.validate(doc, SCHEMA)
    by_name = {c.name: c for suite in xml for c in suite}
    # An undecided run adds one errored `verdict` case, so a consumer counting errors sees it.
    assert set(by_name) == {c["id"] for c in doc["checks"]} | {"verdict"}, by_name
    assert any(isinstance(r, Error) for r in by_name["verdict"].result)
    assert by_name["lint-sample-pipelines"].is_passed
    assert any(isinstance(r, Error) for r in by_name["slow"].result)
    # Checks skipped for a missing need read as skipped to a JUnit consumer, with the reason.
    for c in doc["checks"]:
        if c["status"] == "skipped":
            results = by_name[c["id"]].result
            assert any(isinstance(r, Skipped) and r.message == c["reason"] for r in results), results


def disabled_check_named_explicitly_runs():
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "plug.yaml"), "w") as f:
        f.write("id: plug\nkind: exec\ntitle: t\ncategory: c\nenabled: false\nparams: {command: [sh, -c, \"echo '{}'\"]}\n")
    p, doc, xml = reports("--suite", d, "run", "plug", "lint-sample-pipelines")
    assert p.returncode == 0, p.stdout + p.stderr
    jsonschema.validate(doc, SCHEMA)
    assert [c["id"] for c in doc["checks"]] == ["lint-sample-pipelines", "plug"]
    assert all(c.is_passed for suite in xml for c in suite)


def all_without_cluster():
    # No cluster examined: never "ready", in JSON and in JUnit alike.
    p, doc, xml = reports("all")
    assert p.returncode == 3, p.stdout + p.stderr
    jsonschema.validate(doc, SCHEMA)
    assert doc["verdict"] == "undecided"
    assert doc["verdict_reason"].startswith("the cluster was not examined"), doc["verdict_reason"]
    cases = {c.name: c for suite in xml for c in suite}
    assert len(cases) == len(doc["checks"]) + 1
    verdict = cases["verdict"].result
    assert any(isinstance(r, Error) and "the cluster was not examined" in (r.message or "") for r in verdict), verdict


def markdown_summary():
    # A plug-in whose finding tries to close the table, inject HTML and open a link.
    d = tempfile.mkdtemp()
    hostile = "x | y |\\n<img src=q onerror=alert(1)> [link](http://e) **b**"
    plug = {"findings": [{"rule": "r", "severity": "error", "message": hostile, "remediation": "Fix it."}]}
    with open(os.path.join(d, "plug.yaml"), "w") as f:
        f.write("id: plug\nkind: exec\ntitle: t\ncategory: c\nparams: {command: [sh, -c, %s]}\n"
                % json.dumps("echo '%s'" % json.dumps(plug)))
    md_path = os.path.join(tempfile.mkdtemp(), "summary.md")
    p = run("--suite", d, "run", "plug", "lint-sample-pipelines", "--report", f"markdown={md_path}")
    assert p.returncode == 1, p.stdout + p.stderr
    text = open(md_path).read()
    parser = MarkdownIt("commonmark").enable("table")
    tokens = parser.parse(text)
    assert not [t for t in tokens if t.type == "html_block"], "HTML block from foreign text"
    # One table of the two checks (header + 2 rows), its first cells the statuses.
    rows = [t for t in tokens if t.type == "tr_open"]
    html = parser.render(text)
    assert html.count("<table>") == 1, html
    assert len(rows) == 3, len(rows)
    assert "<img" not in html and "<a href" not in html, html
    assert "&lt;img src" in html, html
    # kfcheck's own emphasis only: the verdict and the finding's severity.
    assert html.count("<strong>") == 2, html
    heads = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert heads[0] == "kfcheck: not-ready" and "Findings (1)" in heads, heads


for name, fn in [
    ("failing lint: JSON valid, JUnit failure", failing_lint),
    ("lint --junit-per-file: a case per pipeline file", lint_junit_per_file),
    ("timed-out plug-in: JUnit error", mixed_suite),
    ("a disabled check named explicitly runs", disabled_check_named_explicitly_runs),
    ("kfcheck all without a cluster", all_without_cluster),
    ("Markdown summary: one table, no foreign markup", markdown_summary),
]:
    case(name, fn)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
