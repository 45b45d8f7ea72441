//! The HTML report, read by its real consumer: Debian's Chromium, headless. Three runs are kept
//! with `--history`, the fourth writes the HTML report with the trends; Chromium loads it from a
//! file with networking off, and the test reads the DOM it built (`--dump-dom`) and everything the
//! page logged: no console message at all (a script, a blocked fetch or a CSP violation would log
//! one; a control page proves that this detector sees them). A screenshot is taken too
//! (target/html-report/report.png; docs/html-report.png is one of these).
//!
//! Needs KFCHECK_TEST_CHROMIUM (scripts/test installs Debian's chromium and sets it).

mod common;

use common::chromium::{chromium, load};
use common::*;

#[test]
fn chromium_loads_the_report_without_a_console_message_and_finds_its_parts() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let exec = |id: &str, line: &str| {
        write(
            dir.path(),
            &format!("suite/{id}.yaml"),
            &format!(
                "id: {id}\nkind: exec\ntitle: {id} <b>bold?</b>\ncategory: html\nparams:\n  command: [sh, -c, {:?}]\n",
                format!("echo '{line}'")
            ),
        );
    };
    let ok = r#"{"findings": []}"#;
    let fails = r#"{"findings": [{"rule": "r1", "message": "the <script>alert(1)</script> broke", "severity": "error", "remediation": "fix it", "evidence": {"seen": "x"}}]}"#;
    exec("h-a", ok);
    exec("h-b", ok);
    let history = dir.path().join("history");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--suite",
            "suite",
            "--history",
            history.to_str().unwrap(),
            "run",
            "html",
        ];
        args.extend_from_slice(extra);
        kfcheck_command(dir.path()).args(&args).output().unwrap()
    };
    for _ in 0..2 {
        assert_eq!(code(&run(&[])), 0);
    }
    exec("h-b", fails);
    let out = dir.path().join("report.html");
    let report = format!("html={}", out.display());
    for _ in 0..2 {
        let o = run(&["--report", &report]);
        assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    }
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(!html.contains("<script>alert"), "foreign text made markup");

    let (dom, console) = load(&chromium, &out, None);
    assert!(console.is_empty(), "the page logged: {console:#?}");
    for part in [
        "id=\"verdict\" class=\"verdict not-ready\"",
        "id=\"cluster\"",
        "id=\"check-h-a\" class=\"check status-passed\"",
        "id=\"check-h-b\" class=\"check status-failed\"",
        "class=\"finding\" open=\"\"",
        "id=\"trends\"",
        "Trends over the last 4 runs",
        "id=\"trend-statuses\"",
    ] {
        assert!(dom.contains(part), "no {part} in the DOM:\n{dom}");
    }
    // Four runs, each a bar: two all passed, two with one failure.
    let svg = &dom[dom.find("id=\"trend-statuses\"").unwrap()..];
    let svg = &svg[..svg.find("</svg>").unwrap()];
    assert_eq!(svg.matches("<rect").count(), 2 + 2 * 2, "{svg}");

    let shots = repo().join("target/html-report");
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join("report.png");
    let _ = std::fs::remove_file(&png);
    load(&chromium, &out, Some(&png));
    let head = std::fs::read(&png).unwrap();
    assert_eq!(&head[..8], b"\x89PNG\r\n\x1a\n", "a PNG screenshot");

    // The detector is not blind: a page that runs a script and fetches an image logs both.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!doctype html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\"></head><body><img src=\"http://127.0.0.1:9/x.png\"><script>console.error('boom')</script></body></html>",
    )
    .unwrap();
    let (_, console) = load(&chromium, &bad, None);
    assert_eq!(console.len(), 2, "{console:#?}");
}
