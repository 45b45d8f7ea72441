//! Command-line definition (clap). Flags and subcommands only; behaviour lives in `commands`,
//! reached through `app`. The lower layers' value types (`Need`, `Format`) know nothing of clap:
//! their clap values are defined here, from their own names.

use crate::context::Need;
use crate::report::Format;
use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// kfcheck: is this Kubeflow cluster really ready for data scientists?
///
/// Runs a suite of checks (cluster, pipelines through every door, GPUs, secrets, storage) and
/// reports a verdict with exit codes a CI gate can trust. With no cluster at hand, `kfcheck all`
/// still inspects the bundled sample pipelines, says which checks did not run and why, and is
/// undecided (exit 3): "ready" needs an examined cluster.
#[derive(Debug, Parser)]
#[command(
    name = "kfcheck",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Exit codes: 0 ready, 1 a check failed, 2 usage/config/suite error, \
3 nothing failed but something errored or timed out, or the cluster was not examined (could not decide), 4 nothing selected, \
130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes; help lists them after the subcommand's own, under their own
/// heading.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Profile namespace to check (default: every profile found).
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// Docker engine endpoint (default: $DOCKER_HOST, then unix:///var/run/docker.sock).
    #[arg(long, global = true, value_name = "URL")]
    pub docker_host: Option<String>,
    /// kfcheck's probe image as the cluster pulls it (pushed to your registry, e.g.
    /// REGISTRY/kfcheck:0.1.0): the GPU sample's step then runs `kfcheck probe gpu --load` in it and
    /// the run reports what the GPU achieved; without it the step only shows a GPU is visible.
    #[arg(long, global = true, value_name = "IMAGE", env = "KFCHECK_PROBE_IMAGE")]
    pub probe_image: Option<String>,
    /// Treat a missing need as an error instead of skipping its checks (repeatable), e.g. in a
    /// CI gate that must reach the cluster: --require kube.
    #[arg(long, global = true, value_enum, value_name = "NEED")]
    pub require: Vec<Need>,
    /// Extra check suite directory: adds checks and overrides default ones by id (repeatable).
    #[arg(long, global = true, value_name = "DIR")]
    pub suite: Vec<PathBuf>,
    /// Deadline for the whole run (e.g. 90s, 15m); checks still running are reported timed out.
    #[arg(long, global = true, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// How many checks run at once.
    #[arg(long, global = true, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Lowest status that makes the exit code 1.
    #[arg(long, global = true, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// Format printed on stdout.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Also write a report to a file, as FORMAT=PATH, e.g. json=kfcheck.json (repeatable).
    #[arg(long, global = true, value_name = "FORMAT=PATH", value_parser = parse_report)]
    pub report: Vec<(Format, PathBuf)>,
    /// Keep this run's JSON report in DIR (one file per run, oldest removed beyond
    /// --history-keep); `kfcheck history` lists them, `kfcheck diff` and --baseline read them.
    #[arg(long, global = true, value_name = "DIR", env = "KFCHECK_HISTORY")]
    pub history: Option<PathBuf>,
    /// Push the run's metrics (`-o prometheus`) to this Pushgateway when it is over, as group
    /// job=kfcheck unless the URL names one (…/metrics/job/NAME/LABEL/VALUE).
    #[arg(long, global = true, value_name = "URL", env = "KFCHECK_PUSH_GATEWAY")]
    pub push_gateway: Option<String>,
    /// When the run is not ready, write a support bundle here (.tar.gz): the reports, and the
    /// objects, pod logs and events behind the failing checks' findings, redacted.
    #[arg(long, global = true, value_name = "FILE.tar.gz")]
    pub bundle: Option<PathBuf>,
    /// Set by `lint --junit-per-file` (not a flag of every command).
    #[arg(skip)]
    pub junit_per_file: bool,
    /// How many runs --history keeps.
    #[arg(long, global = true, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub history_keep: u32,
    /// Compare this run with a baseline and exit 1 on any regression (a check that passed and
    /// now warns, fails or cannot be decided; a new finding in a failing check), even where the
    /// run alone would be ready: a report file, or with --history: last, last-good, a run id.
    #[arg(long, global = true, value_name = "REPORT|last-good|last|RUN-ID")]
    pub baseline: Option<String>,
    /// Group pipeline findings per owner (CODEOWNERS, else last git author).
    #[arg(long, global = true)]
    pub by_owner: bool,
    /// When to colour output (NO_COLOR is honoured in auto mode).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print only findings, what could not be decided, and the verdict.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also print notes and info-level findings.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(flatten)]
    pub kfp: KfpArgs,
}

/// Where the Kubeflow Pipelines API is and who kfcheck is there. Secrets are never printed.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "KFP API")]
pub struct KfpArgs {
    /// KFP endpoint: the dashboard URL (the API is found under /pipeline) or ml-pipeline
    /// directly. Default: a port-forward kfcheck opens to --kfp-service through the Kubernetes
    /// API; in a pod, http://ml-pipeline.kubeflow.svc.cluster.local:8888.
    #[arg(long, global = true, value_name = "URL", env = "KF_PIPELINES_ENDPOINT")]
    pub kfp_endpoint: Option<String>,
    /// The KFP API Service kfcheck port-forwards to when no --kfp-endpoint is given.
    #[arg(
        long,
        global = true,
        value_name = "NS/NAME:PORT",
        default_value = "kubeflow/ml-pipeline:8888"
    )]
    pub kfp_service: crate::clients::portforward::ServiceRef,
    /// Never port-forward to --kfp-service: without --kfp-endpoint the KFP checks are skipped.
    #[arg(long, global = true)]
    pub no_kfp_port_forward: bool,
    /// Bearer token (a ServiceAccount token with audience pipelines.kubeflow.org for direct
    /// access, or a token the gateway accepts).
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        env = "KFP_TOKEN",
        hide_env_values = true
    )]
    pub kfp_token: Option<SecretArg>,
    /// File holding the bearer token (re-read on every kfcheck run).
    #[arg(long, global = true, value_name = "PATH")]
    pub kfp_token_file: Option<std::path::PathBuf>,
    /// Mint a token for this ServiceAccount (NAMESPACE/NAME) with the TokenRequest API,
    /// audience pipelines.kubeflow.org; needs the Kubernetes API.
    #[arg(long, global = true, value_name = "NS/NAME")]
    pub kfp_service_account: Option<String>,
    /// Session cookie from a browser login: `oauth2_proxy_kubeflow=…` (also split `_0`/`_1`
    /// cookies, joined with "; "), `authservice_session=…`, or a bare oauth2-proxy value.
    #[arg(
        long,
        global = true,
        value_name = "COOKIE",
        env = "KFP_COOKIE",
        hide_env_values = true
    )]
    pub kfp_cookie: Option<SecretArg>,
    /// Log in through the dashboard's Dex as this static user (password from KFP_DEX_PASSWORD)
    /// and use the session cookie it sets.
    #[arg(long, global = true, value_name = "USER")]
    pub kfp_dex_user: Option<String>,
    /// Password for --kfp-dex-user.
    #[arg(
        long,
        global = true,
        value_name = "PASSWORD",
        env = "KFP_DEX_PASSWORD",
        hide_env_values = true
    )]
    pub kfp_dex_password: Option<SecretArg>,
    /// Send this identity in the kubeflow-userid header (direct access to ml-pipeline only).
    #[arg(long, global = true, value_name = "USER")]
    pub kfp_user_id: Option<String>,
    /// Profile namespace for kfcheck's experiments and runs (default: -n, else the token's).
    #[arg(long, global = true, value_name = "NS")]
    pub kfp_namespace: Option<String>,
    /// A token of another identity that must be refused (403) in the namespace: the isolation
    /// check's probe.
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        env = "KFP_ISOLATION_TOKEN",
        hide_env_values = true
    )]
    pub kfp_isolation_token: Option<SecretArg>,
    /// How long one KFP request may take before it is retried (safe calls) or reported.
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub kfp_request_timeout: std::time::Duration,
    /// Do not verify the KFP endpoint's TLS certificate (test clusters only).
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,
}

/// A credential given on the command line or in the environment. Its `Debug` never shows the
/// value, so no log, panic message or error built from the parsed arguments can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretArg(String);

impl SecretArg {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretArg(<redacted>)")
    }
}

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretArg(s.to_string()))
    }
}

/// `--require NEED`: the need's own name; the help says what each one is.
impl ValueEnum for Need {
    fn value_variants<'a>() -> &'a [Self] {
        &Need::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            Need::Kube => "A Kubernetes API server reachable with the resolved kubeconfig",
            Need::Docker => "A Docker engine",
            Need::Kfp => {
                "A Kubeflow Pipelines API endpoint (--kfp-endpoint, a port-forward to \
                 --kfp-service, or in-cluster)"
            }
        };
        Some(PossibleValue::new(self.name()).help(help))
    }
}

/// `-o FORMAT`: the format's own name (`Format::name`, also what `--report` parses).
impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &Format::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every enabled check of the suite.
    All,
    /// Run the checks with these ids or categories.
    Run {
        #[arg(required = true, value_name = "ID|CATEGORY")]
        selection: Vec<String>,
    },
    /// List the checks in the suite.
    List,
    /// Explain a check, a check kind, a finding rule or a pipeline lint rule.
    Explain {
        #[arg(value_name = "ID|KIND|RULE")]
        name: String,
    },
    /// Inspect compiled pipeline YAML (KFP v2 IR, KFP v1 Argo, Tekton); never edits it.
    Lint(LintArgs),
    /// Ask the live cluster whether it would accept YAML before anyone submits it: every object
    /// in the files (an Argo Workflow, KFP v1 compiled YAML, a Workflow the KFP v2 backend
    /// compiled, any Kubernetes object) is sent as a server-side dry run (dryRun=All, strict
    /// field validation), so schema, admission-webhook and quota errors show now. Nothing is
    /// persisted; the files are never edited. Objects without a namespace go to -n (else
    /// default). Exit 0 when every object is accepted, 1 when one is refused, 3 when one could
    /// not be asked (no cluster, no permission, a KFP v2 pipeline spec, which is not a
    /// Kubernetes object).
    ApplyCheck {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Delete what earlier runs left behind: only objects labelled
    /// app.kubernetes.io/managed-by=kfcheck, in every namespace, Docker containers with that
    /// label when a Docker engine is configured, and (with a KFP endpoint) KFP runs, experiments
    /// and pipelines named kfcheck-<run id>-….
    Cleanup {
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
        /// Only objects of this run (its id is in every report).
        #[arg(long, value_name = "ID")]
        run_id: Option<String>,
    },
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): kfcheck(1), or a subcommand's own page (`kfcheck man lint`
    /// is kfcheck-lint(1), the page kfcheck(1) refers to).
    Man {
        /// The subcommand whose page to print.
        #[arg(value_name = "SUBCOMMAND")]
        page: Option<String>,
    },
    /// Run inside a container or pod: print one JSON result line (storage, gpu, env).
    Probe(Box<ProbeArgs>),
    /// Run a compiled pipeline's container steps in order with Docker, and write a manifest.
    LocalRun(LocalRunArgs),
    /// What an upgrade changes: the Kubeflow workloads and their images, the Kubeflow CRDs'
    /// served versions, the KFP server's version, the bundled samples' SDK versions, and installed
    /// objects last written with a deprecated or removed Kubernetes API. Keep one before and one
    /// after an upgrade (-o json > before.json) and `kfcheck diff before.json after.json`.
    Snapshot {
        /// Namespaces to read workloads from (default: kubeflow, kubeflow-system, istio-system,
        /// cert-manager, auth, oauth2-proxy, knative-serving, knative-eventing, kserve; those that
        /// exist).
        #[arg(long = "namespaces", value_name = "NS,...", value_delimiter = ',')]
        namespaces: Vec<String>,
    },
    /// List the runs kept by --history DIR: when, verdict, counts.
    History {
        /// The history directory (default: --history, $KFCHECK_HISTORY).
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Compare two runs: checks that regressed or were fixed, new and resolved findings,
    /// durations that moved. Exit 1 when the new run regressed. OLD and NEW are JSON report
    /// files, or with --history: last, last-good, a run id.
    Diff {
        #[arg(value_name = "OLD")]
        old: String,
        #[arg(value_name = "NEW")]
        new: String,
        /// Relative change in a duration worth showing (0.5 = 50%).
        #[arg(long, value_name = "RATIO", default_value_t = 0.5)]
        tolerance: f64,
    },
    /// Run a team's own notebook: `kfcheck notebook run NB.ipynb [OUT.ipynb]`.
    Notebook(NotebookArgs),
    /// Compare a local-run manifest with another one, or with the run on the cluster (an Argo
    /// Workflow, or the Workflow of a KFP run): same steps, same states and exit codes, same
    /// outputs where both sides carry them.
    #[command(group(clap::ArgGroup::new("against").required(true).args(["actual", "workflow", "run"])))]
    Parity {
        /// The reference manifest (e.g. the local run).
        #[arg(value_name = "MANIFEST")]
        expected: PathBuf,
        /// The manifest to compare with it.
        #[arg(value_name = "OTHER")]
        actual: Option<PathBuf>,
        /// An Argo Workflow in the namespace (-n) to compare with it.
        #[arg(long, value_name = "NAME")]
        workflow: Option<String>,
        /// A KFP run (its id) to compare with it: the Workflow the backend made for it, in the
        /// run's profile namespace (-n).
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
        /// Where a KFP run's artifacts are read from: its pipeline root's store (e.g. a
        /// port-forward to KFP's object store); default: AWS_ENDPOINT_URL_S3, or Google's.
        #[arg(long, value_name = "URL")]
        store_endpoint: Option<String>,
        /// A folder with `accesskey` and `secretkey` files for an S3-compatible pipeline root;
        /// default: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else the profile's Secret
        /// mlpipeline-minio-artifact.
        #[arg(long, value_name = "DIR")]
        s3_key_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Pipeline files or directories (searched for .yaml, .yml and .json); `-` reads one
    /// pipeline from standard input.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    /// CODEOWNERS file naming each pipeline's owners (default: discovered per repository).
    #[arg(long, value_name = "FILE")]
    pub owners: Option<PathBuf>,
    /// Override a rule's severity: RULE=off|info|warning|error (repeatable).
    #[arg(long = "rule", value_name = "RULE=LEVEL")]
    pub rules: Vec<String>,
    /// Also check every task against the live cluster's nodes: can any node satisfy its
    /// resources, selectors and tolerations? Needs a cluster (--kubeconfig).
    #[arg(long)]
    pub cluster: bool,
    /// Leave out files and directories matching GLOB, relative to each directory given or as a
    /// name (`ci/**`, `kustomization.yaml`; repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Files found in directories that are not compiled pipelines (CI configs, kustomizations)
    /// are problems ("could not decide") instead of being skipped with a note.
    #[arg(long)]
    pub strict: bool,
    /// Repository config whose suppressions apply to every input (default: the nearest
    /// .kfcheck.yaml above each file, up to the repository root).
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Ignore .kfcheck.yaml files: every finding counts.
    #[arg(long)]
    pub no_config: bool,
    /// JUnit reports: one test case per pipeline file (its findings as the failure) instead of
    /// one per check, so a CI system shows which file broke.
    #[arg(long)]
    pub junit_per_file: bool,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    match crate::units::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be more than zero".into()),
        Err(e) => Err(format!("{e} (e.g. 90s, 15m)")),
    }
}

fn parse_report(s: &str) -> Result<(Format, PathBuf), String> {
    let (f, p) = s
        .split_once('=')
        .ok_or("expected FORMAT=PATH, e.g. json=report.json")?;
    if p.is_empty() {
        return Err("empty PATH in FORMAT=PATH".into());
    }
    Ok((f.parse()?, PathBuf::from(p)))
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[command(subcommand)]
    pub what: ProbeWhat,
    /// Also write the JSON result line to this file (a pipeline step's output).
    #[arg(long, global = true, value_name = "PATH")]
    pub output_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ProbeWhat {
    /// A bucket round trip (GCS or S3): list, write, read back and compare, delete (timed).
    Storage(StorageProbeArgs),
    /// Bucket throughput: parallel streams writing and reading objects for a set time;
    /// throughput, latency percentiles, 429 and 503 counted apart.
    Io(IoProbeArgs),
    /// Which NVIDIA GPUs are visible (NVML).
    Gpu(GpuProbeArgs),
    /// Identity, mounted secrets (names only), credentials source, endpoint reachability.
    Env(EnvProbeArgs),
}

/// Which bucket, and as whom: shared by `probe storage` and `probe io`.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Bucket: NAME, gs://NAME, or s3://NAME (minio://NAME too, as KFP's pipeline root says).
    #[arg(long, env = "KFCHECK_BUCKET")]
    pub bucket: String,
    /// Protocol for a bucket given without a scheme.
    #[arg(long, value_parser = ["gcs", "s3"], value_name = "gcs|s3")]
    pub provider: Option<String>,
    /// Storage endpoint, keeping authentication (GCS: STORAGE_EMULATOR_HOST instead disables
    /// it; S3: default AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS in the region).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// GCS: service-account key file (default: Application Default Credentials, then the
    /// metadata server).
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// GCS: do not ask the GCE/GKE metadata server for credentials.
    #[arg(long)]
    pub no_metadata: bool,
    /// S3: folder holding `accesskey` and `secretkey` files, as a mounted Secret such as
    /// mlpipeline-minio-artifact (default: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
    #[arg(long, value_name = "DIR")]
    pub s3_key_dir: Option<PathBuf>,
    /// S3: region (default AWS_REGION, AWS_DEFAULT_REGION, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// Object prefix; objects go under PREFIX/RUN-ID/ (and SCOPE/ when given).
    #[arg(long, default_value = "kfcheck")]
    pub prefix: String,
    /// Run id for object names (default: one made up by the probe).
    #[arg(long, env = "KFCHECK_RUN_ID")]
    pub run_id: Option<String>,
    /// Sub-folder under PREFIX/RUN-ID/ (e.g. the check id), so probes of one run never collide.
    #[arg(long, value_name = "NAME")]
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct StorageProbeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Size of the object written and read back (e.g. 1KB, 1MB, 100MB).
    #[arg(long, default_value = "64KiB")]
    pub size: String,
    /// Also upload the result line as PREFIX/RUN-ID/result-HOSTNAME.json (left for the caller).
    #[arg(long)]
    pub upload_result: bool,
}

#[derive(Debug, Clone, Args)]
pub struct IoProbeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Parallel streams, each writing an object, reading it back and deleting it, in turn.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub streams: u32,
    /// Size of each object (e.g. 256KiB, 8MiB).
    #[arg(long, default_value = "4MiB")]
    pub object_size: String,
    /// Seconds of measuring.
    #[arg(long, default_value_t = 10.0, value_name = "S")]
    pub seconds: f64,
    /// Stop sooner once this many bytes have moved (reads and writes together).
    #[arg(long, default_value = "2GiB", value_name = "SIZE")]
    pub max_bytes: String,
    /// What the streams do: write, read (objects written first, not measured) or both in turn.
    #[arg(long, default_value = "mixed", value_parser = ["mixed", "read", "write"])]
    pub mode: String,
    /// Start measuring at this time (milliseconds since the epoch), so probes started one after
    /// another measure the same window; default: at once.
    #[arg(long, value_name = "MS")]
    pub start_at: Option<u64>,
}

#[derive(Debug, Clone, Args)]
pub struct GpuProbeArgs {
    /// Fail when fewer GPUs than this are visible.
    #[arg(long, default_value_t = 1)]
    pub expect: u32,
    /// Load every visible GPU (FP32 FMA kernel, device-memory stream, pinned host-link copies)
    /// and judge what it achieved against what the driver says it should do.
    #[arg(long)]
    pub load: bool,
    /// Seconds of load per GPU: 40% compute, 40% memory, 20% host link.
    #[arg(long, default_value_t = 10.0, value_name = "S", requires = "load")]
    pub seconds: f64,
    /// Fail below this share of the expected FP32 throughput.
    #[arg(long, default_value_t = 0.8, value_name = "RATIO", requires = "load")]
    pub min_compute: f64,
    /// Fail below this share of the expected device-memory bandwidth.
    #[arg(long, default_value_t = 0.7, value_name = "RATIO", requires = "load")]
    pub min_memory: f64,
    /// Fail below this share of the expected PCIe bandwidth (slower direction; default: not judged).
    #[arg(long, value_name = "RATIO", requires = "load")]
    pub min_host_link: Option<f64>,
    /// Do not sample NVML while loading (to measure what sampling costs).
    #[arg(long, requires = "load")]
    pub no_sample: bool,
}

#[derive(Debug, Clone, Args)]
pub struct EnvProbeArgs {
    /// Endpoint to test for reachability, URL or HOST:PORT (repeatable).
    #[arg(long, value_name = "URL")]
    pub endpoint: Vec<String>,
    /// Directory whose file names to list as mounted secrets (repeatable; default /var/secrets,
    /// /secret, /etc/secrets, /var/run/secrets).
    #[arg(long, value_name = "DIR")]
    pub secrets_dir: Vec<PathBuf>,
    /// Do not ask the GCE/GKE metadata server for credentials.
    #[arg(long)]
    pub no_metadata: bool,
}

#[derive(Debug, Args)]
pub struct NotebookArgs {
    #[command(subcommand)]
    pub what: NotebookWhat,
}

#[derive(Debug, Subcommand)]
pub enum NotebookWhat {
    /// Execute a notebook cell by cell in a Jupyter kernel, with papermill's parameters (the
    /// cell tagged `parameters`, a cell tagged `injected-parameters` after it), and report each
    /// cell's status and duration. Where: --server URL, a Kubeflow Notebook (-n PROFILE
    /// [--notebook NAME], through kfcheck's port-forward), else a local `jupyter server` kfcheck
    /// starts on 127.0.0.1 and stops after. The input file is never written. Exit 0 every code
    /// cell ran, 1 a cell failed, 2 bad usage or a malformed notebook, 3 could not decide (no
    /// server, the kernel died, a timeout), 130 interrupted.
    Run(Box<NotebookRunArgs>),
}

#[derive(Debug, Args)]
pub struct NotebookRunArgs {
    /// The notebook to run (nbformat 4).
    #[arg(value_name = "NB.ipynb")]
    pub notebook: PathBuf,
    /// Write the executed notebook here (outputs, execution counts, the injected cell);
    /// default: not written. Never the input.
    #[arg(value_name = "OUT.ipynb")]
    pub out: Option<PathBuf>,
    /// A parameter, typed as papermill types it: True, False, None, an int, a float, else a
    /// string (repeatable).
    #[arg(short = 'p', long = "parameter", num_args = 2, value_names = ["NAME", "VALUE"], allow_hyphen_values = true)]
    pub parameters: Vec<String>,
    /// A parameter kept as a string (repeatable).
    #[arg(short = 'r', long = "parameter-raw", num_args = 2, value_names = ["NAME", "VALUE"], allow_hyphen_values = true)]
    pub raw_parameters: Vec<String>,
    /// Parameters as a YAML mapping (repeatable).
    #[arg(short = 'y', long = "parameters-yaml", value_name = "YAML")]
    pub yaml: Vec<String>,
    /// Parameters from a YAML file (repeatable).
    #[arg(short = 'f', long = "parameters-file", value_name = "FILE.yaml")]
    pub files: Vec<PathBuf>,
    /// A running Jupyter server's base URL.
    #[arg(long, value_name = "URL", conflicts_with_all = ["notebook_name", "jupyter"])]
    pub server: Option<String>,
    /// The server's token (never printed).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "JUPYTER_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<SecretArg>,
    /// A Kubeflow Notebook of the profile given with -n (default: the first usable one).
    #[arg(
        long = "notebook",
        id = "notebook_name",
        value_name = "NAME",
        conflicts_with = "jupyter"
    )]
    pub notebook_name: Option<String>,
    /// The `jupyter` executable for a local server (default: `jupyter` on PATH).
    #[arg(long, value_name = "PATH")]
    pub jupyter: Option<PathBuf>,
    /// The kernel to start (default: the notebook's own when the server has it, else the
    /// server's default).
    #[arg(long, value_name = "NAME")]
    pub kernel: Option<String>,
    /// How long one cell may run; then the kernel is interrupted and the run stops (the global
    /// --timeout bounds the whole run).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub cell_timeout: std::time::Duration,
    /// Run the later cells after a failing one (the exit is still 1).
    #[arg(long)]
    pub keep_going: bool,
}

#[derive(Debug, Args)]
pub struct LocalRunArgs {
    /// Compiled pipeline (KFP v2 IR YAML).
    #[arg(value_name = "PIPELINE.yaml")]
    pub pipeline: PathBuf,
    /// Folder for step inputs, outputs, logs and manifest.json (default: a new folder in the
    /// system's temporary directory, never the current one).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Pipeline parameter, NAME=VALUE (repeatable; defaults come from the pipeline).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Use a local image instead of the one the pipeline names, FROM=TO (repeatable).
    #[arg(long = "image", value_name = "FROM=TO")]
    pub images: Vec<String>,
    /// Pull images that are not present (default: use only local images).
    #[arg(long)]
    pub pull: bool,
    /// Time limit for each step.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub step_timeout: std::time::Duration,
    /// Network for the containers (host or none; engines without a bridge need one of them).
    #[arg(long, default_value = "none")]
    pub network: String,
    /// Run GPU steps with all GPUs (`--gpus all`); without it GPU requests are ignored.
    #[arg(long)]
    pub gpus: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show_in_the_parsed_arguments() {
        let cli = Cli::try_parse_from([
            "kfcheck",
            "--kfp-token",
            "CANARY-tok",
            "--kfp-dex-password",
            "CANARY-pw",
            "--kfp-isolation-token",
            "CANARY-iso",
            "all",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        assert_eq!(
            cli.global.kfp.kfp_token.as_ref().map(SecretArg::expose),
            Some("CANARY-tok")
        );
        let cli = Cli::try_parse_from([
            "kfcheck",
            "--kfp-cookie",
            "oauth2_proxy_kubeflow=CANARY-cookie",
            "all",
        ])
        .unwrap();
        assert!(!format!("{cli:?}").contains("CANARY"));
    }

    #[test]
    fn needs_and_formats_are_accepted_by_their_own_names() {
        for need in Need::ALL {
            for format in Format::ALL {
                let report = format!("{}=r", format.name());
                let args = [
                    "kfcheck",
                    "--require",
                    need.name(),
                    "-o",
                    format.name(),
                    "--report",
                    &report,
                    "all",
                ];
                let cli = Cli::try_parse_from(args).unwrap();
                assert_eq!(cli.global.require, vec![need]);
                assert_eq!(cli.global.output, format);
                assert_eq!(cli.global.report, vec![(format, PathBuf::from("r"))]);
            }
        }
        assert!(Cli::try_parse_from(["kfcheck", "--require", "gcs", "all"]).is_err());
    }
}
