//! Entry points for the coverage-guided fuzz targets in `fuzz/` (run by `scripts/fuzz`). Each
//! takes arbitrary bytes, drives one reader of untrusted input the way kfcheck does, and panics
//! only when an invariant breaks: a crash there is a bug here. Not an API; hidden from the docs.
//! Kept in one file so the targets need no more than `pub(crate)` from the modules they reach.

use crate::assets::SuiteBase;
use crate::clients::kfp::{Experiment, Health, Pipeline, PipelineVersion, Run, RunDetails};
use crate::clients::kfp_spec::{error_message, CompiledSpec, GpuMode, RunState, Version};
use crate::clients::redact::{redact, tail, MASK};
use crate::model::Severity;
use crate::pipeline::lint::{lint_text, LintOptions};
use crate::pipeline::parse::{parse_pipeline, parse_pipeline_fast, parse_pipeline_full};
use serde_json::Value;

/// The fast block reader against the full parser: when both accept a file, they give the same
/// task model; what the full parser accepts, the combined reader accepts with that model; and
/// lint never panics on either. The fast reader may accept a file the full parser rejects only
/// because of content it steps over unread (a malformed embedded script): a known limit.
pub fn pipeline_readers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let full = parse_pipeline_full(text);
    let fast = parse_pipeline_fast(text);
    if let (Some(fast), Ok(full)) = (&fast, &full) {
        assert_eq!(
            fast, full,
            "the fast reader and the full parser disagree on the task model"
        );
    }
    let combined = parse_pipeline(text);
    match (&combined, &full) {
        (Ok(p), Ok(f)) => assert_eq!(p, f, "parse_pipeline and the full parser disagree"),
        (Err(_), Err(_)) => {}
        (Ok(p), Err(_)) => assert_eq!(
            Some(p),
            fast.as_ref(),
            "parse_pipeline accepted what neither reader did"
        ),
        (Err(e), Ok(_)) => panic!("parse_pipeline rejects what the full parser accepts: {e:?}"),
    }
    let report = lint_text("fuzz.yaml", text, &LintOptions::default());
    assert_eq!(
        report.error.is_none(),
        combined.is_ok() && !text.trim().is_empty(),
        "lint and the parser disagree"
    );
}

/// One check file through the suite loader: errors or checks, never a panic; every check that
/// loads has a valid id and a positive timeout, and every error says something.
pub fn suite_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut errors = Vec::new();
    let specs = crate::suite::parse_file("fuzz.yaml", text, &SuiteBase::Embedded, &mut errors);
    for s in &specs {
        assert!(
            !s.id.is_empty()
                && s.id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'),
            "bad id {:?}",
            s.id
        );
        assert!(!s.timeout.is_zero(), "zero timeout for {}", s.id);
        assert!(s.origin.starts_with("fuzz.yaml:"), "origin {:?}", s.origin);
    }
    for e in &errors {
        assert!(!e.message.is_empty(), "an empty error message");
        assert!(e.line.is_none_or(|l| l >= 1), "line 0 in {e:?}");
    }
}

/// Redaction: never panics, a second pass changes nothing, and a token
/// planted where a credential goes (after `Bearer `, as `ya29.`, as a secret-named pair's value)
/// never survives, whatever surrounds it.
pub fn redaction(data: &[u8]) {
    let (selector, rest) = match data.split_first() {
        Some((s, r)) => (*s, r),
        None => (0, data),
    };
    let text = String::from_utf8_lossy(rest);
    // A second pass must change nothing, whatever the text (redact repeats to a fixed point).
    let once = redact(&text);
    assert_eq!(redact(&once), once, "redaction is not idempotent");
    let t = tail(&text, usize::from(selector % 8), usize::from(selector) * 4);
    assert!(
        t.len() <= usize::from(selector) * 4 + "…".len(),
        "tail is over its byte bound"
    );

    // Plant a token that the text does not otherwise contain, between the two halves.
    const TOKEN: &str = "kfTOKEN0planted9xyz";
    if text.contains(TOKEN) {
        return;
    }
    let cut = (0..=text.len().min(usize::from(selector) * 7))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let (before, after) = text.split_at(cut);
    // The planted credential ends where a token ends: at a space, quote, comma or line end.
    // Markers (`Bearer `, `ya29.`) are planted inside whatever line the cut falls in; pairs
    // (`"name": value`, `NAME=value`, `name: value`) start a line of their own, since a malformed
    // pair earlier on the same line (an unterminated quote) may rightly swallow what follows.
    let shapes = [
        format!("Bearer {TOKEN}"),
        format!("ya29.{TOKEN}"),
        format!("\n{{\"password\": \"{TOKEN}\"}}"),
        format!("\nAPI_KEY={TOKEN}"),
        format!("\n  client_secret: {TOKEN}"),
    ];
    let planted = &shapes[usize::from(selector >> 5) % shapes.len()];
    let input = format!("{before}{planted}\n{after}");
    let out = redact(&input);
    assert!(
        !out.contains(TOKEN),
        "a planted token survived redaction:\n{out}"
    );
    assert!(
        out.contains(MASK) || out.len() < input.len(),
        "nothing was masked"
    );
}

/// A plug-in's exit and output through the exec kind's evaluation: an outcome or an undecided
/// error, never a panic. Byte 0 chooses the exit; stdout and stderr are split at the first NUL.
pub fn plugin_output(data: &[u8]) {
    let (flags, rest) = match data.split_first() {
        Some((f, r)) => (*f, r),
        None => (0, data),
    };
    let (stdout, stderr) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let over = flags & 1 == 1;
    let code = if flags & 2 == 0 {
        Some(i32::from((flags >> 2) & 0x0f))
    } else {
        None
    };
    let severity =
        [Severity::Error, Severity::Warning, Severity::Info][usize::from(flags >> 6) % 3];
    match crate::kinds::exec::evaluate_parts(code, stdout, over, stderr, severity, "fuzz-check") {
        Ok(_) => {
            assert!(stdout.contains(&b'{'), "an outcome without a JSON result");
            assert!(!over, "a flooded stdout gave an outcome");
        }
        Err(e) => assert!(!e.to_string().is_empty(), "an empty error"),
    }
}

/// KFP API bodies: every message type kfcheck decodes, from arbitrary bytes, and the helpers
/// that read specs, states, versions and error bodies. Decoding may fail, never panic; a spec
/// written as YAML reads back the same.
pub fn kfp_messages(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // Redaction may lengthen a message ("[redacted]"), so only the call is checked: no panic.
    let _ = error_message(&text);
    let _ = Version::parse(&text);
    if let Ok(spec) = CompiledSpec::from_yaml(&text) {
        spec_invariants(&spec);
    }
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        return;
    };
    let _ = Health::from_json(&v);
    let _ = serde_json::from_value::<Experiment>(v.clone());
    let _ = serde_json::from_value::<Pipeline>(v.clone()).map(|p| p.shown_name().len());
    let _ = serde_json::from_value::<PipelineVersion>(v.clone());
    let _ = serde_json::from_value::<RunDetails>(v.clone());
    if let Ok(run) = serde_json::from_value::<Run>(v.clone()) {
        let state = RunState::parse(run.state.as_deref());
        assert_eq!(
            RunState::parse(Some(state.as_str())),
            state,
            "a run state does not read back"
        );
    }
    if let Ok(spec) = CompiledSpec::from_served(&v) {
        spec_invariants(&spec);
    }
}

fn spec_invariants(spec: &CompiledSpec) {
    let _ = (
        spec.name(),
        spec.sdk_version(),
        spec.string_only_resources(),
        spec.for_run(),
    );
    let gpu = GpuMode {
        resource: "nvidia.com/gpu".into(),
        count: 1,
        node_selector: Some(("k".into(), "v".into())),
        toleration_key: "nvidia.com/gpu".into(),
    };
    let with = spec.with_gpu(&gpu);
    assert_eq!(
        with.with_gpu(&gpu),
        with,
        "GPU mode applied twice differs from once"
    );
    if let Ok(yaml) = spec.to_yaml() {
        if let Ok(back) = CompiledSpec::from_yaml(&yaml) {
            assert_eq!(
                &back, spec,
                "a spec written as YAML reads back different:\n{yaml}"
            );
        }
    }
}

/// Jupyter kernel messages: arbitrary bytes as a text frame and as a v1 binary frame decode or
/// fail, never panic; a decoded binary frame's JSON parts, framed again, decode the same; and
/// what kfcheck sends for the text as code decodes as its own execute request.
pub fn jupyter_messages(data: &[u8]) {
    use crate::clients::jupyter_msg::{
        decode_binary, decode_text, encode_binary, execute_request_binary, execute_request_text,
    };
    let text = String::from_utf8_lossy(data);
    let _ = decode_text(&text);
    if let Ok(m) = decode_binary(data) {
        assert!(
            m.msg_id.len() + m.msg_type.len() <= data.len(),
            "decoded more than was sent"
        );
    }
    for sent in [
        decode_text(&execute_request_text("s", "id", &text)),
        decode_binary(&execute_request_binary("s", "id", &text)),
    ] {
        let m = sent.expect("kfcheck's own execute_request decodes");
        assert_eq!(
            (m.msg_type.as_str(), m.msg_id.as_str()),
            ("execute_request", "id")
        );
    }
    // Re-framing: the JSON parts of a text frame, as a binary frame, give the same message.
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(&text) {
        let part = |k: &str| o.get(k).cloned().unwrap_or(serde_json::Value::Null);
        let channel = o
            .get("channel")
            .and_then(|c| c.as_str())
            .unwrap_or_default();
        let parts = [
            part("header"),
            part("parent_header"),
            part("metadata"),
            part("content"),
        ];
        if let Ok(a) = decode_text(&text) {
            let b = decode_binary(&encode_binary(
                channel,
                [&parts[0], &parts[1], &parts[2], &parts[3]],
            ));
            assert_eq!(Ok(a), b, "the two framings disagree");
        }
    }
}
