//! `storage-roundtrip`: the bucket round trip (list, write under `PREFIX/<run-id>/<check>/`, read
//! back and compare, delete, each step timed) from one of three places, chosen by `from:`:
//! `host` (in kfcheck's own process, with the host's identity: a key file, ADC, the metadata
//! server, or an S3 key pair), `container` (the probe in a local container with the credentials
//! mounted: what `container-storage` does) or `pod` (the probe in a pod in the profile as its
//! pipelines' identity: what `pod-storage` does). The three answer "does this identity reach the
//! bucket from there", so comparing them says where access breaks. GCS and S3-compatible stores
//! alike from the host; the container and pod forms take the parameters of those two kinds.

// The two places that run the probe elsewhere: this kind's own parts, not kinds of their own.
mod container;
mod pod;

use super::{typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::context::Need;
use crate::doors::storage_probe::{evaluate, Facts, POD_STORAGE_RULE_LIST, STORAGE_RULE_LIST};
use crate::doors::store_run::{object_prefix, roundtrip, RoundTrip, StoreTarget};
use crate::model::owned::Created;
use crate::model::{concat_rules, Evidence, Finding, FindingRule, Severity, Subject};
use container::ContainerStorage;
use futures::future::BoxFuture;
use pod::PodStorage;
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub struct StorageRoundtrip;

const HOST_RULES: [FindingRule; 3] = [
    FindingRule {
        id: "storage-refused-from-host",
        default_severity: Severity::Error,
        summary: "storage refuses the host's identity",
        fix: "Grant the identity in the evidence list, create, get and delete on the bucket (roles/storage.objectAdmin, or an S3 policy on the prefix), or fix the key it signs with.",
    },
    FindingRule {
        id: "no-credentials-on-host",
        default_severity: Severity::Error,
        summary: "the host has no usable storage credentials",
        fix: "Give key_file or adc_dir (GCS) or s3_key_dir (S3), or run where the metadata server answers.",
    },
    FindingRule {
        id: "storage-roundtrip-failed-from-host",
        default_severity: Severity::Error,
        summary: "bucket round trip from the host failed",
        fix: "Fix what the error in the evidence names: the bytes read back differ from those written, or the store answered something unexpected.",
    },
];

static PLACE_RULES: [FindingRule; 11] = concat_rules(&STORAGE_RULE_LIST, &POD_STORAGE_RULE_LIST);
static RULES: [FindingRule; 14] = concat_rules(&PLACE_RULES, &HOST_RULES);

static META: KindMeta = KindMeta {
    name: "storage-roundtrip",
    needs: &[],
    effect: Effect::CreatesResources,
    creates: &[
        Created::Containers,
        Created::Kube { kind: "Pod", api_version: "v1", plural: "pods", namespaced: true },
        Created::BucketObjects,
    ],
    rules: &RULES,
    default_timeout: Duration::from_secs(300),
    what: "A bucket round trip (list, write under PREFIX/<run-id>/<check>/, read back and compare, delete, timed) from the host with kfcheck's own identity (from: host), from a local container with the credentials mounted (from: container, the parameters of container-storage), or from a pod in the profile as its pipelines' identity (from: pod, the parameters of pod-storage).",
    why: "Credentials that work in one place often fail in another: a key only on the host, a Secret not mounted in the pod, an identity without rights on the bucket. The same round trip from the three places says where access breaks.",
    fix: "Grant the identity named in the evidence access to the bucket, and mount the credentials where the failing place expects them.",
    params: &[
        ("from", "host (default), container or pod; container and pod take the parameters of container-storage and pod-storage"),
        ("bucket", "gs://NAME, s3://NAME or minio://NAME (no bucket: the check is skipped)"),
        ("provider", "host: gcs or s3, for a bucket given without a scheme"),
        ("endpoint", "host: the storage endpoint, keeping authentication"),
        ("key_file", "host, GCS: service-account key file"),
        ("adc_dir", "host, GCS: gcloud folder with application_default_credentials.json"),
        ("s3_key_dir", "host, S3: folder with accesskey and secretkey files"),
        ("region", "host, S3: region (default us-east-1)"),
        ("prefix", "host: object prefix (default kfcheck)"),
        ("size", "size of the object written (default 1MB)"),
    ],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Place {
    #[default]
    Host,
    Container,
    Pod,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostParams {
    #[serde(default)]
    bucket: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    key_file: Option<PathBuf>,
    #[serde(default)]
    adc_dir: Option<PathBuf>,
    #[serde(default)]
    s3_key_dir: Option<PathBuf>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default = "default_prefix")]
    prefix: String,
    #[serde(default = "crate::doors::storage_probe::default_size")]
    size: String,
}

fn default_prefix() -> String {
    "kfcheck".into()
}

/// `from`, and the rest of the parameters (what the chosen place's kind reads).
fn split(params: &Value) -> Result<(Place, Value), String> {
    let mut rest = params.clone();
    let from = match rest.as_object_mut().and_then(|m| m.remove("from")) {
        None => Place::Host,
        Some(v) => {
            serde_json::from_value(v).map_err(|_| "from: use host, container or pod".to_string())?
        }
    };
    if rest.is_null() {
        rest = Value::Object(Default::default());
    }
    Ok((from, rest))
}

impl HostParams {
    fn target(&self, bucket: &str) -> Result<StoreTarget, String> {
        StoreTarget::from_params(
            bucket,
            self.provider.as_deref(),
            self.endpoint.clone(),
            self.key_file.clone(),
            self.adc_dir.clone(),
            self.s3_key_dir.clone(),
            self.region.clone(),
        )
    }
}

/// Puts a passed round trip's figures into `out.figures` as `{"roundtrip": {"<place>": {"bytes",
/// "total_ms", "<op>_ms"...}}}` (each timed step of the line, `upload-result` as
/// `upload_result_ms`), beside what is already there; `diff` compares `total_ms` between runs. A
/// line that did not pass, or that has no figure, adds nothing.
fn put_roundtrip_figures(out: &mut Outcome, place: &str, line: &Value) {
    if line["status"] != "passed" {
        return;
    }
    // The line may come from any image: only names and times the report's schema allows.
    let time = |v: &Value| v.as_f64().filter(|ms| *ms >= 0.0);
    let named = |op: &&str| {
        op.starts_with(|c: char| c.is_ascii_lowercase())
            && op
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-' || c == '_')
    };
    let mut f = serde_json::Map::new();
    if let Some(b) = line["bytes"].as_u64() {
        f.insert("bytes".into(), b.into());
    }
    if let Some(ms) = time(&line["total_ms"]) {
        f.insert("total_ms".into(), ms.into());
    }
    for step in line["steps"].as_array().into_iter().flatten() {
        if let (Some(op), Some(ms)) = (step["op"].as_str().filter(named), time(&step["ms"])) {
            // A step named `total` does not replace the line's own total.
            f.entry(format!("{}_ms", op.replace('-', "_")))
                .or_insert(ms.into());
        }
    }
    if f.is_empty() {
        return;
    }
    let all = out
        .figures
        .get_or_insert_with(|| Value::Object(Default::default()));
    if let Some(all) = all.as_object_mut() {
        let places = all
            .entry("roundtrip")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(places) = places.as_object_mut() {
            places.insert(place.into(), Value::Object(f));
        }
    }
}

/// The storage probe's line from a container or a pod, judged (`storage_probe::evaluate`), with
/// the round trip's figures kept when it passed.
fn evaluate_place(place: &str, facts: &Facts, severity: Severity) -> Result<Outcome, CheckError> {
    let mut out = evaluate(facts, severity)?;
    if let Some(line) = &facts.probe {
        put_roundtrip_figures(&mut out, place, line);
    }
    Ok(out)
}

/// The round trip's line from the host, judged: a refusal or missing credentials are findings,
/// a store that could not be asked leaves the check undecided.
pub(crate) fn evaluate_host(
    line: &Value,
    url: &str,
    severity: Severity,
) -> Result<Outcome, CheckError> {
    let s = |p: &str| {
        line.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut out = Outcome::default();
    let subject = Subject::new("bucket", url.to_string());
    let evidence = || {
        vec![
            Evidence::new("credentials", s("/credentials/source")),
            Evidence::new("identity", s("/credentials/identity")),
            Evidence::new(
                "error",
                format!("{}: {}", s("/error/class"), s("/error/message")),
            ),
        ]
    };
    match s("/status").as_str() {
        "passed" => {
            let timing = crate::doors::storage_probe::step_timing(line);
            out.notes.push(format!(
                "round trip of {} bytes from the host as {} ({}): {}",
                line["bytes"],
                s("/credentials/identity"),
                s("/credentials/source"),
                timing
            ));
            put_roundtrip_figures(&mut out, "host", line);
        }
        "failed" => {
            let (id, rule) = match s("/error/class").as_str() {
                "bucket-missing" => ("bucket-missing", &STORAGE_RULE_LIST[0]),
                "denied" | "unauthenticated" => ("storage-refused-from-host", &HOST_RULES[0]),
                "token-refused" => ("storage-refused-from-host", &HOST_RULES[0]),
                "no-credentials" | "bad-credentials" => ("no-credentials-on-host", &HOST_RULES[1]),
                _ => ("storage-roundtrip-failed-from-host", &HOST_RULES[2]),
            };
            out.findings.push(Finding::new(
                id,
                severity,
                subject,
                rule.summary,
                evidence(),
                rule.fix,
            ));
        }
        _ => {
            return Err(CheckError::Undecided(format!(
                "the storage could not be asked ({}): {}",
                s("/error/class"),
                s("/error/message")
            )))
        }
    }
    Ok(out)
}

impl Kind for StorageRoundtrip {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &Value, base: &SuiteBase) -> Result<(), String> {
        let (from, rest) = split(params)?;
        match from {
            Place::Container => ContainerStorage.validate(&rest, base),
            Place::Pod => PodStorage.validate(&rest, base),
            Place::Host => {
                let p: HostParams = typed_params(&rest)?;
                crate::units::parse_size(&p.size)?;
                if let Some(b) = &p.bucket {
                    p.target(b)?;
                }
                Ok(())
            }
        }
    }

    fn needs(&self, params: &Value) -> Vec<Need> {
        match split(params).map(|(f, _)| f) {
            Ok(Place::Container) => vec![Need::Docker],
            Ok(Place::Pod) => vec![Need::Kube],
            _ => Vec::new(),
        }
    }

    fn run(&'static self, mut cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let (from, rest) = split(&cx.spec.params).map_err(CheckError::Undecided)?;
            if from != Place::Host {
                // The place's own kind reads its own parameters (without `from`).
                let mut view = (*cx.spec).clone();
                view.params = rest;
                cx.spec = Arc::new(view);
                return match from {
                    Place::Container => ContainerStorage.run(cx).await,
                    _ => PodStorage.run(cx).await,
                };
            }
            let mut p: HostParams = typed_params(&rest).map_err(CheckError::Undecided)?;
            let Some(bucket) = p.bucket.clone() else {
                return Err(CheckError::NotApplicable(
                    "no bucket configured (set params.bucket in your suite)".into(),
                ));
            };
            p.key_file = p
                .key_file
                .map(|k| cx.spec.base.resolve(&k.to_string_lossy()));
            p.adc_dir = p
                .adc_dir
                .map(|d| cx.spec.base.resolve(&d.to_string_lossy()));
            p.s3_key_dir = p
                .s3_key_dir
                .map(|d| cx.spec.base.resolve(&d.to_string_lossy()));
            let target = p.target(&bucket).map_err(CheckError::Undecided)?;
            // Registered before anything is written: the janitor deletes the check's prefix.
            cx.delete_store_prefix_later(
                target.clone(),
                object_prefix(&p.prefix, &cx.run_id, Some(&cx.spec.id)),
            );
            let (_, line) = roundtrip(&RoundTrip {
                target: target.clone(),
                prefix: p.prefix.clone(),
                run_id: Some(cx.run_id.to_string()),
                scope: Some(cx.spec.id.clone()),
                size: p.size.clone(),
                upload_result: false,
            })
            .await;
            evaluate_host(&line, &target.url(), cx.spec.severity)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn from_picks_the_place_and_the_rest_is_that_places_parameters() {
        let k = StorageRoundtrip;
        let base = SuiteBase::Embedded;
        assert!(k.validate(&json!({}), &base).is_ok());
        assert!(k
            .validate(&json!({"bucket": "s3://b", "s3_key_dir": "k"}), &base)
            .is_ok());
        assert!(k
            .validate(&json!({"from": "container", "network": "host"}), &base)
            .is_ok());
        assert!(k
            .validate(
                &json!({"from": "pod", "secret": "s", "secret_key": "k.json"}),
                &base
            )
            .is_ok());
        // A container parameter on the host, a host one in a pod, an unknown place.
        assert!(k.validate(&json!({"network": "host"}), &base).is_err());
        assert!(k
            .validate(&json!({"from": "pod", "s3_key_dir": "k"}), &base)
            .is_err());
        assert!(k.validate(&json!({"from": "cloud"}), &base).is_err());
        assert!(k.validate(&json!({"bucket": "ftp://b"}), &base).is_err());
        assert_eq!(k.needs(&json!({"from": "container"})), [Need::Docker]);
        assert_eq!(k.needs(&json!({"from": "pod"})), [Need::Kube]);
        assert!(k.needs(&json!({})).is_empty());
    }

    #[test]
    fn the_hosts_round_trip_is_judged_by_what_the_store_decided() {
        let ok = json!({"status": "passed", "bytes": 10, "credentials": {"identity": "key KF1", "source": "the key pair in /k"}, "steps": [{"op": "list", "ms": 1.5}]});
        let o = evaluate_host(&ok, "s3://b", Severity::Error).unwrap();
        assert!(o.findings.is_empty());
        assert_eq!(
            o.figures,
            Some(json!({"roundtrip": {"host": {"bytes": 10, "list_ms": 1.5}}}))
        );
        assert!(
            o.notes[0].contains("from the host as key KF1") && o.notes[0].contains("list 1.5ms"),
            "{:?}",
            o.notes
        );
        for (class, rule) in [
            ("bucket-missing", "bucket-missing"),
            ("denied", "storage-refused-from-host"),
            ("unauthenticated", "storage-refused-from-host"),
            ("no-credentials", "no-credentials-on-host"),
            ("mismatch", "storage-roundtrip-failed-from-host"),
        ] {
            let line = json!({"status": "failed", "error": {"class": class, "message": "m"}});
            let o = evaluate_host(&line, "s3://b", Severity::Error).unwrap();
            assert_eq!(o.findings[0].rule, rule, "{class}");
            assert_eq!(o.figures, None, "a refused round trip measured nothing");
        }
        let line =
            json!({"status": "errored", "error": {"class": "unreachable", "message": "refused"}});
        assert!(evaluate_host(&line, "s3://b", Severity::Error).is_err());
    }

    /// A passed line as `doors::store_run::roundtrip` writes it (an uploaded result included).
    fn passed_line() -> Value {
        json!({"probe": "storage", "status": "passed", "bytes": 1048576, "total_ms": 41.7,
        "credentials": {"identity": "service account a@b"},
        "steps": [
            {"op": "list", "ok": true, "ms": 3.2},
            {"op": "write", "ok": true, "ms": 18.4, "mb_per_s": 57.0},
            {"op": "read", "ok": true, "ms": 12.1, "mb_per_s": 86.66},
            {"op": "delete", "ok": true, "ms": 4.0},
            {"op": "compare", "ok": true},
            {"op": "upload-result", "ok": true, "ms": 5.5}
        ]})
    }

    fn facts(probe: Value) -> Facts {
        Facts {
            bucket: "s3://b".into(),
            how: "key pair".into(),
            exit_code: Some(0),
            timed_out: false,
            log_tail: String::new(),
            probe: Some(probe),
            result_seen: None,
        }
    }

    use crate::model::figures_schema_allows as schema_allows;

    #[test]
    fn a_passed_round_trip_keeps_its_figures_for_each_place() {
        let timed = json!({"bytes": 1048576, "total_ms": 41.7, "list_ms": 3.2, "write_ms": 18.4,
            "read_ms": 12.1, "delete_ms": 4.0, "upload_result_ms": 5.5});
        for place in ["container", "pod"] {
            let o = evaluate_place(place, &facts(passed_line()), Severity::Error).unwrap();
            assert!(o.findings.is_empty(), "{:?}", o.findings);
            assert_eq!(
                o.figures,
                Some(json!({"roundtrip": {place: timed.clone()}}))
            );
            assert!(schema_allows(o.figures.as_ref().unwrap()));
        }
        let o = evaluate_host(&passed_line(), "s3://b", Severity::Error).unwrap();
        assert_eq!(o.figures.unwrap()["roundtrip"]["host"], timed);
        // Failed: no figures. Beside other figures: merged, not replaced.
        let refused = json!({"probe": "storage", "status": "failed", "total_ms": 9.0,
            "error": {"class": "denied", "message": "m"}});
        let o = evaluate_place("pod", &facts(refused), Severity::Error).unwrap();
        assert_eq!(o.findings[0].rule, "storage-denied-in-container");
        assert_eq!(o.figures, None);
        let mut out = Outcome {
            figures: Some(
                json!({"gpu_load": {"devices": []}, "roundtrip": {"host": {"total_ms": 1.0}}}),
            ),
            ..Outcome::default()
        };
        put_roundtrip_figures(
            &mut out,
            "pod",
            &json!({"status": "passed", "total_ms": 2.0,
                "steps": [{"op": "Odd Op", "ms": 1.0}, {"op": "list", "ms": -1.0}]}),
        );
        assert_eq!(
            out.figures,
            Some(json!({"gpu_load": {"devices": []},
                "roundtrip": {"host": {"total_ms": 1.0}, "pod": {"total_ms": 2.0}}}))
        );
    }
}
