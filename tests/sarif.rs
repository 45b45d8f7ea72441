//! SARIF 2.1.0, validated against the official schema (OASIS sarif-2.1.0-rtm.5, fetched by
//! scripts/sarif-schema from Microsoft's npm package): `kfcheck lint` over the fail fixtures
//! (findings with a file and a line) and a cluster-less `kfcheck all` (findings without a file).
//!
//! Needs KFCHECK_TEST_SARIF_SCHEMA (scripts/test sets it).

mod common;

use common::*;

#[test]
fn lint_findings_are_valid_sarif_with_their_file_and_line() {
    let schema = match std::env::var("KFCHECK_TEST_SARIF_SCHEMA") {
        Ok(s) => s,
        Err(_) => {
            unavailable::<()>(
                "KFCHECK_TEST_SARIF_SCHEMA is not set: scripts/test fetches the schema",
                "KFCHECK_TEST_SARIF_SCHEMA not set (scripts/sarif-schema)",
            );
            return;
        }
    };
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lint.sarif");
    let report = format!("sarif={}", file.display());
    let o = kfcheck(&[
        "lint",
        "fixtures/pipelines/v2/fail",
        "-o",
        "sarif",
        "--report",
        &report,
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), stdout(&o));
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert!(results.len() >= 5, "{doc:#}");
    let placed = results
        .iter()
        .filter(|r| {
            let p = &r["locations"][0]["physicalLocation"];
            p["artifactLocation"]["uri"]
                .as_str()
                .is_some_and(|u| u.starts_with("fixtures/pipelines/v2/fail/"))
                && p["region"]["startLine"].as_u64().is_some_and(|l| l > 0)
        })
        .count();
    assert!(placed > 0, "no result with a file and a line: {doc:#}");
    let rules = doc["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"], "{r:#}");
        assert!(!rules[i]["help"]["text"].as_str().unwrap().is_empty());
    }
    // A run with findings about no file (no cluster here: what it says is still valid SARIF).
    let o = kfcheck(&["all", "-o", "sarif"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(validator.is_valid(&doc), "{doc:#}");
    // The validator is not blind: a level SARIF does not know is refused.
    let mut bad = doc.clone();
    bad["runs"][0]["results"] =
        serde_json::json!([{"ruleId": "x", "level": "fatal", "message": {"text": "m"}}]);
    assert!(!validator.is_valid(&bad));
}
