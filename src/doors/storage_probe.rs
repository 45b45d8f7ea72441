//! The storage probe's result line (`kfcheck probe storage`), wherever the probe ran: a local
//! container (`container-storage`) or a pod (`pod-storage`), judged the same way.

use crate::model::{CheckError, Evidence, Finding, FindingRule, Outcome, Severity, Subject};
use std::time::Duration;

/// The probe image both storage checks default to.
pub(crate) fn default_image() -> String {
    super::docker::PROBE_IMAGE.into()
}
/// The size of the object written, by default.
pub(crate) fn default_size() -> String {
    "1MB".into()
}
/// How long the probe may take, by default.
pub(crate) fn default_timeout() -> Duration {
    Duration::from_secs(120)
}

/// What a storage probe's result can show (`container-storage` and `pod-storage` report these).
pub(crate) const STORAGE_RULE_LIST: [FindingRule; 8] = [
    FindingRule {
        id: "bucket-missing",
        default_severity: Severity::Error,
        summary: "bucket does not exist",
        fix: "Create the bucket, or fix the bucket name the components use.",
    },
    FindingRule {
        id: "storage-denied-in-container",
        default_severity: Severity::Error,
        summary: "storage refuses the container's identity",
        fix: "Grant the service account roles/storage.objectAdmin on the bucket (or a custom role with list, create, get and delete).",
    },
    FindingRule {
        id: "no-credentials-in-container",
        default_severity: Severity::Error,
        summary: "container finds no google credentials",
        fix: "Mount a key file (key_file) or the gcloud ADC folder (adc_dir), or run where the metadata server answers.",
    },
    FindingRule {
        id: "credentials-unusable-in-container",
        default_severity: Severity::Error,
        summary: "credentials file in the container is unusable",
        fix: "Mount the JSON key file Google issued, unmodified, and point GOOGLE_APPLICATION_CREDENTIALS at it.",
    },
    FindingRule {
        id: "token-refused-in-container",
        default_severity: Severity::Error,
        summary: "token endpoint refuses the container's key",
        fix: "Create a new key for the service account (the key may be deleted, disabled or expired) and mount it.",
    },
    FindingRule {
        id: "storage-roundtrip-failed-in-container",
        default_severity: Severity::Error,
        summary: "bucket round trip from the container failed",
        fix: "Fix what the error in the evidence names: the bucket, the credentials mounted into the container, or the network between them.",
    },
    FindingRule {
        id: "storage-container-timed-out",
        default_severity: Severity::Error,
        summary: "storage probe container did not finish within the timeout",
        fix: "Check that the container can reach the storage endpoint (network host) and raise `timeout` for large objects.",
    },
    FindingRule {
        id: "result-object-missing",
        default_severity: Severity::Error,
        summary: "result object uploaded from the container is not visible from the host",
        fix: "Check that the container and the host use the same bucket and endpoint.",
    },
];

/// What the pod around a storage probe can show (`pod-storage`, `storage-roundtrip` from a pod).
pub(crate) const POD_STORAGE_RULE_LIST: [FindingRule; 3] = [
    FindingRule {
        id: "storage-pod-not-started",
        default_severity: Severity::Error,
        summary: "storage probe pod did not start",
        fix: "Read the pod's state in the evidence: make the image pullable from the cluster (image), let the pod schedule (node_selector, tolerations, quota), or fix what the container cannot be created without.",
    },
    FindingRule {
        id: "storage-secret-missing",
        default_severity: Severity::Error,
        summary: "credentials secret for pods is missing or lacks its key",
        fix: "Create the Secret in the profile's namespace with the service-account key under the named key (Kubeflow's PodDefaults mount such a Secret into steps), or fix `secret`/`secret_key`.",
    },
    FindingRule {
        id: "storage-service-account-missing",
        default_severity: Severity::Error,
        summary: "service account for the storage probe pod does not exist",
        fix: "Name the service account steps run as in `service_account`, or fix the profile (its controller creates default-editor in the namespace).",
    },
];

/// A round trip line's steps as `list 1.2ms, write 3.4ms, ...`.
pub(crate) fn step_timing(line: &serde_json::Value) -> String {
    line["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some(format!("{} {}ms", s.get("op")?.as_str()?, s.get("ms")?)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What happened, for the pure evaluation.
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    pub bucket: String,
    pub how: String,
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    pub log_tail: String,
    pub probe: Option<serde_json::Value>,
    /// The host's view of the result object: `None` not checked; `Some(Ok(()))` found.
    pub result_seen: Option<Result<(), String>>,
}

pub(crate) fn evaluate(f: &Facts, severity: Severity) -> Result<Outcome, CheckError> {
    let mut out = Outcome::default();
    // A bare name is a GCS bucket; an s3:// or minio:// one is shown as given.
    let subject = Subject::new(
        "bucket",
        if f.bucket.contains("://") {
            f.bucket.clone()
        } else {
            format!("gs://{}", f.bucket)
        },
    );
    if f.timed_out {
        out.findings.push(Finding::new(
            "storage-container-timed-out",
            severity,
            subject,
            "storage probe container did not finish within the timeout",
            vec![Evidence::new("credentials", f.how.clone()), Evidence::new("log tail", f.log_tail.clone())],
            "Check that the container can reach the storage endpoint (network host) and raise `timeout` for large objects.",
        ));
        return Ok(out);
    }
    let Some(p) = &f.probe else {
        return Err(CheckError::Undecided(format!(
            "the storage probe printed no result line (exit {}): {}",
            f.exit_code.unwrap_or(-1),
            f.log_tail
        )));
    };
    let status = p
        .get("status")
        .and_then(|s| s.as_str())
        .unwrap_or("errored");
    let class = p
        .pointer("/error/class")
        .and_then(|c| c.as_str())
        .unwrap_or("")
        .to_string();
    let message = p
        .pointer("/error/message")
        .and_then(|c| c.as_str())
        .unwrap_or("")
        .to_string();
    let identity = p
        .pointer("/credentials/identity")
        .and_then(|c| c.as_str())
        .unwrap_or("unknown identity")
        .to_string();
    match status {
        "passed" => {}
        "failed" => {
            let (rule, msg, fix) = match class.as_str() {
                "bucket-missing" => ("bucket-missing", "bucket does not exist", "Create the bucket, or fix the bucket name the components use."),
                "denied" | "unauthenticated" => ("storage-denied-in-container", "storage refuses the container's identity", "Grant the service account roles/storage.objectAdmin on the bucket (or a custom role with list, create, get and delete)."),
                "no-credentials" => ("no-credentials-in-container", "container finds no google credentials", "Mount a key file (key_file) or the gcloud ADC folder (adc_dir), or run where the metadata server answers."),
                "bad-credentials" => ("credentials-unusable-in-container", "credentials file in the container is unusable", "Mount the JSON key file Google issued, unmodified, and point GOOGLE_APPLICATION_CREDENTIALS at it."),
                "token-refused" => ("token-refused-in-container", "token endpoint refuses the container's key", "Create a new key for the service account (the key may be deleted, disabled or expired) and mount it."),
                _ => ("storage-roundtrip-failed-in-container", "bucket round trip from the container failed", "Fix what the error in the evidence names: the bucket, the credentials mounted into the container, or the network between them."),
            };
            out.findings.push(Finding::new(
                rule,
                severity,
                subject,
                msg,
                vec![
                    Evidence::new("credentials", f.how.clone()),
                    Evidence::new("identity", identity),
                    Evidence::new("error", message),
                ],
                fix,
            ));
            return Ok(out);
        }
        _ => {
            return Err(CheckError::Undecided(format!(
                "the storage probe could not decide ({class}): {message}"
            )))
        }
    }
    out.notes.push(format!(
        "round trip of {} bytes as {identity} ({}): {}",
        p.get("bytes").unwrap_or(&serde_json::Value::Null),
        f.how,
        step_timing(p)
    ));
    match &f.result_seen {
        None => {}
        Some(Ok(())) => out
            .notes
            .push("result object uploaded from the container was read back from the host".into()),
        Some(Err(why)) => out.findings.push(Finding::new(
            "result-object-missing",
            severity,
            subject,
            "result object uploaded from the container is not visible from the host",
            vec![Evidence::new("result object", why.clone())
                .expected("readable with the same credentials")],
            "Check that the container and the host use the same bucket and endpoint.",
        )),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(probe: serde_json::Value) -> Facts {
        Facts {
            bucket: "b".into(),
            how: "key file".into(),
            exit_code: Some(0),
            timed_out: false,
            log_tail: String::new(),
            probe: Some(probe),
            result_seen: Some(Ok(())),
        }
    }

    #[test]
    fn a_passing_round_trip_notes_timing() {
        let p = serde_json::json!({"probe": "storage", "status": "passed", "bytes": 10, "credentials": {"identity": "service account a@b"}, "steps": [{"op": "list", "ms": 1.5}]});
        let o = evaluate(&facts(p), Severity::Error).unwrap();
        assert!(o.findings.is_empty());
        assert!(o.notes[0].contains("list 1.5ms"), "{:?}", o.notes);
    }

    #[test]
    fn refusals_are_findings_and_errors_are_undecided() {
        for (class, rule) in [
            ("no-credentials", "no-credentials-in-container"),
            ("bucket-missing", "bucket-missing"),
            ("denied", "storage-denied-in-container"),
            ("token-refused", "token-refused-in-container"),
            ("bad-credentials", "credentials-unusable-in-container"),
        ] {
            let p = serde_json::json!({"probe": "storage", "status": "failed", "error": {"class": class, "message": "m"}});
            assert_eq!(
                evaluate(&facts(p), Severity::Error).unwrap().findings[0].rule,
                rule
            );
        }
        let p = serde_json::json!({"probe": "storage", "status": "errored", "error": {"class": "unreachable", "message": "m"}});
        assert!(evaluate(&facts(p), Severity::Error).is_err());
        let mut f = facts(serde_json::json!({"probe": "storage", "status": "passed"}));
        f.result_seen = Some(Err("404".into()));
        assert_eq!(
            evaluate(&f, Severity::Error).unwrap().findings[0].rule,
            "result-object-missing"
        );
    }
}
