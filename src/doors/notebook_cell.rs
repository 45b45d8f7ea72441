//! What the notebook door runs in a kernel ([`cell`]: `notebook_kernel.py` with kfcheck's
//! settings) and what it reads back ([`parse`]: the one `KFCHECK-RESULT` line), with each way it
//! can fail named by the layer at fault ([`Layer`]), so a finding says whether the image, the
//! PodDefault, the mesh, KFP's authorization or the pipeline backend is to blame. The kernel's
//! text is untrusted: bounded, redacted, never a credential.

use crate::clients::redact::redact;
use crate::model::{FindingRule, Severity};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The kernel program (Python), run as one cell.
pub const KERNEL_PROGRAM: &str = include_str!("notebook_kernel.py");
/// The prefix of the result line.
pub const MARK: &str = "KFCHECK-RESULT ";
/// The longest result line read (a run with many tasks is a few KiB).
const MAX_RESULT_BYTES: usize = 1 << 20;

/// kfcheck's settings for one kernel run.
#[derive(Debug, Clone, Serialize)]
pub struct CellConfig {
    pub namespace: String,
    /// The compiled sample (KFP v2 IR YAML), as the REST door submits it.
    pub pipeline_yaml: String,
    /// `kfcheck-<run id>-...`: what the kernel creates carries kfcheck's run id.
    pub run_name: String,
    pub experiment_name: String,
    pub timeout_s: u64,
    /// An endpoint instead of the in-cluster default (tests; a notebook outside the cluster).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

/// The cell's code: the kernel program with the settings in it.
pub fn cell(config: &CellConfig) -> String {
    let json = serde_json::to_string(config).unwrap_or_default();
    let b64 = base64::engine::general_purpose::STANDARD.encode(json);
    KERNEL_PROGRAM.replacen("__KFCHECK_CONFIG__", &b64, 1)
}

/// Which layer a failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    KfpMissing,
    TokenMissing,
    IstioDenied,
    KfpForbidden,
    Unauthenticated,
    NotFound,
    Unreachable,
    ServerError,
    RunFailed,
    RunTimeout,
    ProbeBug,
    /// The notebook's Jupyter server did not serve kfcheck (set by the door, not the kernel).
    Server,
    /// The kernel died while the cell ran (set by the door).
    KernelDied,
    /// The Notebook kfcheck created never became Ready (set by the door).
    NotReady,
    #[serde(other)]
    Error,
}

/// Every layer, in the order `kfcheck explain` lists their rules.
pub const LAYERS: [Layer; 15] = [
    Layer::KfpMissing,
    Layer::TokenMissing,
    Layer::IstioDenied,
    Layer::KfpForbidden,
    Layer::Unauthenticated,
    Layer::NotFound,
    Layer::Unreachable,
    Layer::ServerError,
    Layer::RunFailed,
    Layer::RunTimeout,
    Layer::ProbeBug,
    Layer::Server,
    Layer::KernelDied,
    Layer::NotReady,
    Layer::Error,
];

const fn rule_of(l: Layer) -> FindingRule {
    let (id, summary, fix) = l.describe();
    FindingRule {
        id,
        default_severity: Severity::Error,
        summary,
        fix,
    }
}

/// The notebook door's findings, one per layer.
pub const NOTEBOOK_RULES: [FindingRule; 15] = {
    let mut out = [rule_of(Layer::Error); 15];
    let mut i = 0;
    while i < 15 {
        out[i] = rule_of(LAYERS[i]);
        i += 1;
    }
    out
};

impl Layer {
    /// Finding rule, what was observed, and the fix.
    pub const fn describe(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Layer::KfpMissing => ("notebook-kfp-missing", "the kfp SDK cannot be imported in the notebook's kernel", "Use a notebook image with kfp installed (matching the KFP server's version), or `pip install kfp` in the image."),
            Layer::TokenMissing => ("notebook-token-missing", "the notebook has no KFP token file (KF_PIPELINES_SA_TOKEN_PATH)", "Select the access-ml-pipeline PodDefault for the notebook (it mounts the token) and restart it; a pod started before the PodDefault existed does not have it."),
            Layer::IstioDenied => ("notebook-mesh-denied", "the mesh refused the notebook's request to KFP (403 RBAC: access denied) before KFP saw it", "Check the Istio AuthorizationPolicy in front of ml-pipeline: it must allow the profile's ServiceAccounts (Kubeflow's ml-pipeline policy)."),
            Layer::KfpForbidden => ("notebook-kfp-forbidden", "KFP refused the profile namespace to the notebook's ServiceAccount (403)", "Bind the notebook's ServiceAccount (default-editor) to kubeflow-edit in its profile namespace; KFP authorizes with a SubjectAccessReview."),
            Layer::Unauthenticated => ("notebook-kfp-unauthenticated", "KFP did not accept the notebook's token (401)", "Check the token's audience (pipelines.kubeflow.org) in the PodDefault and that KFP's TokenReview works."),
            Layer::NotFound => ("notebook-kfp-not-found", "the notebook reached something that is not the KFP API (404)", "Check KF_PIPELINES_ENDPOINT in the notebook, or the ml-pipeline Service in kubeflow."),
            Layer::Unreachable => ("notebook-kfp-unreachable", "the notebook cannot reach the KFP API", "Check that ml-pipeline.kubeflow.svc.cluster.local:8888 resolves and answers from the profile namespace (NetworkPolicy, sidecar)."),
            Layer::ServerError => ("notebook-kfp-server-error", "the KFP API answered the notebook with a server error", "Read the ml-pipeline API server's log at that time."),
            Layer::RunFailed => ("notebook-run-failed", "the sample submitted from the notebook did not succeed", "The submission worked, so the fault is in the backend: read the failed step's pod log (the REST door's result for the same sample says more)."),
            Layer::RunTimeout => ("notebook-run-timeout", "the sample submitted from the notebook did not finish in time", "See why its steps wait (kubectl get pods -l pipeline/runid=<run id>)."),
            Layer::ProbeBug => ("notebook-probe-error", "kfcheck's kernel program failed unexpectedly", "Report it to kfcheck with the traceback in the evidence."),
            Layer::Server => ("notebook-server-error", "the notebook's Jupyter server did not serve kfcheck through the notebook's Service", "Check the notebook's pod log and that its Service forwards port 80 to the server's port (8888) with the base URL NB_PREFIX."),
            Layer::KernelDied => ("notebook-kernel-died", "the notebook's kernel died while kfcheck's cell ran", "Look for an OOMKilled container or a kernel crash in the notebook's pod log; give the notebook more memory."),
            Layer::NotReady => ("notebook-not-ready", "the Notebook kfcheck created did not become Ready", "Look at the Notebook's pod (kubectl -n <profile> describe pod -l notebook-name=<name>): an image that cannot be pulled, no node with room, or a notebook controller that is not running."),
            Layer::Error => ("notebook-error", "the notebook's call to KFP failed", "Read the error in the evidence."),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct KernelStep {
    pub name: String,
    pub ok: bool,
    #[serde(default)]
    pub detail: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KernelTask {
    pub name: String,
    pub state: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub pod: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KernelRun {
    pub id: String,
    pub state: String,
    #[serde(default)]
    pub tasks: Vec<KernelTask>,
    #[serde(default)]
    pub duration_s: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KernelError {
    pub layer: Layer,
    pub message: String,
    #[serde(default)]
    pub status: Option<u16>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KernelToken {
    pub path: String,
    pub from_env: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CleanupStep {
    pub what: String,
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
}

/// What the kernel program reported.
#[derive(Debug, Clone, Deserialize)]
pub struct KernelReport {
    #[serde(default)]
    pub python: Option<String>,
    #[serde(default)]
    pub kfp_version: Option<String>,
    #[serde(default)]
    pub server_version: Option<String>,
    #[serde(default)]
    pub token_file: Option<KernelToken>,
    #[serde(default)]
    pub steps: Vec<KernelStep>,
    #[serde(default)]
    pub run: Option<KernelRun>,
    #[serde(default)]
    pub error: Option<KernelError>,
    #[serde(default)]
    pub cleanup: Vec<CleanupStep>,
}

/// The result line in a cell's stdout (the last one, if a user's code printed the marker too),
/// with every message redacted.
pub fn parse(stdout: &str) -> Result<KernelReport, String> {
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(MARK))
        .ok_or("the kernel program printed no result line (its output was cut, or it never ran)")?;
    if line.len() > MAX_RESULT_BYTES {
        return Err(format!(
            "the kernel's result line is {} bytes, over the {MAX_RESULT_BYTES}-byte limit",
            line.len()
        ));
    }
    let mut r: KernelReport = serde_json::from_str(line)
        .map_err(|e| format!("the kernel's result line is not kfcheck's JSON: {e}"))?;
    for s in &mut r.steps {
        s.detail = redact(&s.detail);
    }
    if let Some(e) = &mut r.error {
        e.message = redact(&e.message);
    }
    if let Some(run) = &mut r.run {
        for t in &mut run.tasks {
            t.message = redact(&t.message);
        }
    }
    for c in &mut r.cleanup {
        c.error = c.error.as_deref().map(redact);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cell_carries_the_settings_and_nothing_else_changes() {
        let cfg = CellConfig {
            namespace: "team-a".into(),
            pipeline_yaml: "a: '''\n\"b\"\n".into(),
            run_name: "kfcheck-r1-nb".into(),
            experiment_name: "kfcheck-r1".into(),
            timeout_s: 60,
            host: None,
            arguments: serde_json::Map::new(),
        };
        assert_eq!(KERNEL_PROGRAM.matches("__KFCHECK_CONFIG__").count(), 1);
        let code = cell(&cfg);
        let b64 =
            base64::engine::general_purpose::STANDARD.encode(serde_json::to_string(&cfg).unwrap());
        assert_eq!(code.replacen(&b64, "__KFCHECK_CONFIG__", 1), KERNEL_PROGRAM);
        let back: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(&b64)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(back["pipeline_yaml"], "a: '''\n\"b\"\n");
        assert!(back.get("host").is_none());
    }

    #[test]
    fn the_last_result_line_is_read_and_redacted() {
        let out = "noise\nKFCHECK-RESULT {\"steps\": []}\nKFCHECK-RESULT {\"steps\": [{\"name\": \"healthz\", \"ok\": false, \"detail\": \"Authorization: Bearer abc.def\"}], \"error\": {\"layer\": \"istio-denied\", \"message\": \"403 token=sekrit\"}, \"cleanup\": []}\n";
        let r = parse(out).unwrap();
        assert_eq!(r.steps.len(), 1);
        assert!(
            !r.steps[0].detail.contains("abc.def"),
            "{}",
            r.steps[0].detail
        );
        let e = r.error.unwrap();
        assert_eq!(e.layer, Layer::IstioDenied);
        assert!(!e.message.contains("sekrit"));
        let unknown =
            parse("KFCHECK-RESULT {\"error\": {\"layer\": \"new-thing\", \"message\": \"m\"}}")
                .unwrap();
        assert_eq!(unknown.error.unwrap().layer, Layer::Error);
        assert!(parse("print nothing").is_err());
        assert!(parse("KFCHECK-RESULT {not json")
            .unwrap_err()
            .contains("not kfcheck's JSON"));
    }
}
