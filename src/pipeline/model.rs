//! One task model for every compiled-pipeline format: what each container asks for and where it
//! may be scheduled. Parsers fill it; lint rules read it.

/// The compiled format a pipeline file was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// KFP v2 intermediate representation (PipelineSpec), optionally with a platform spec.
    KfpV2,
    /// KFP v1 compiled Argo Workflow (also WorkflowTemplate, CronWorkflow).
    Argo,
    /// Argo Workflow compiled by the KFP v2 backend (driver/launcher templates; the tasks are
    /// IR JSON in its parameters). Linted like `KfpV2`.
    KfpV2Argo,
    /// KFP-Tekton PipelineRun (or Pipeline + Task documents).
    Tekton,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::KfpV2 => "kfp-v2",
            Format::Argo => "argo-workflow",
            Format::KfpV2Argo => "kfp-v2-argo",
            Format::Tekton => "tekton",
        }
    }
}

/// A resource value as written in the file, with the field it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Qty {
    pub raw: String,
    /// Field name in the file, e.g. `resourceMemoryLimit` or `limits.memory`.
    pub field: String,
    /// Multiplier to base units (1e9 for the deprecated `memoryLimit`, which is in GB).
    pub scale: f64,
}

impl Qty {
    pub fn new(raw: impl Into<String>, field: impl Into<String>) -> Self {
        Qty {
            raw: raw.into(),
            field: field.into(),
            scale: 1.0,
        }
    }

    pub fn is_placeholder(&self) -> bool {
        super::quantity::is_placeholder(&self.raw)
    }

    /// Value in base units, or `None` when it is not a valid quantity (or a placeholder).
    pub fn value(&self) -> Option<f64> {
        super::quantity::parse_quantity(&self.raw).map(|v| v * self.scale)
    }

    /// `field=raw` for evidence.
    pub fn shown(&self) -> String {
        if self.scale == 1.0 {
            format!("{}: {}", self.field, self.raw)
        } else {
            format!("{}: {} (GB)", self.field, self.raw)
        }
    }
}

/// Extended resources (GPUs and other accelerators) requested by a container.
#[derive(Debug, Clone, PartialEq)]
pub struct Extended {
    pub name: String,
    pub request: Option<Qty>,
    pub limit: Option<Qty>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub cpu_request: Option<Qty>,
    pub cpu_limit: Option<Qty>,
    pub memory_request: Option<Qty>,
    pub memory_limit: Option<Qty>,
    pub extended: Vec<Extended>,
}

impl Resources {
    pub fn all(&self) -> impl Iterator<Item = &Qty> {
        [
            &self.cpu_request,
            &self.cpu_limit,
            &self.memory_request,
            &self.memory_limit,
        ]
        .into_iter()
        .flatten()
        .chain(
            self.extended
                .iter()
                .flat_map(|e| e.request.iter().chain(e.limit.iter())),
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Toleration {
    pub key: Option<String>,
    pub operator: Option<String>,
    pub value: Option<String>,
    pub effect: Option<String>,
    /// Given as JSON from a pipeline parameter: contents unknown until run time.
    pub dynamic: bool,
}

impl Toleration {
    pub fn shown(&self) -> String {
        if self.dynamic {
            return "toleration from a pipeline parameter".to_string();
        }
        let mut s = self.key.clone().unwrap_or_else(|| "<any key>".into());
        s.push(' ');
        s.push_str(self.operator.as_deref().unwrap_or("Equal"));
        if let Some(v) = &self.value {
            s.push(' ');
            s.push_str(v);
        }
        if let Some(e) = &self.effect {
            s.push(' ');
            s.push_str(e);
        }
        s
    }
}

/// One node selector requirement (`matchExpressions` or `matchFields` item) as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requirement {
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt` (anything else is invalid).
    pub operator: String,
    pub values: Vec<String>,
}

impl Requirement {
    pub fn new(key: &str, operator: &str, values: &[&str]) -> Self {
        Requirement {
            key: key.into(),
            operator: operator.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    /// `key In [a, b]`, `key Exists`, `key Gt 4`, for evidence and reasons.
    pub fn shown(&self) -> String {
        match self.operator.as_str() {
            "Exists" | "DoesNotExist" if self.values.is_empty() => {
                format!("{} {}", self.key, self.operator)
            }
            "Gt" | "Lt" if self.values.len() == 1 => {
                format!("{} {} {}", self.key, self.operator, self.values[0])
            }
            _ => format!(
                "{} {} [{}]",
                self.key,
                self.operator,
                self.values.join(", ")
            ),
        }
    }

    /// True for operators that only a node carrying the label can satisfy.
    pub fn needs_label(&self) -> bool {
        matches!(self.operator.as_str(), "In" | "Exists" | "Gt" | "Lt")
    }
}

/// One node selector term: all its requirements must hold (they are ANDed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AffinityTerm {
    /// Requirements on node labels.
    pub match_expressions: Vec<Requirement>,
    /// Requirements on node fields (Kubernetes supports only `metadata.name`).
    pub match_fields: Vec<Requirement>,
}

impl AffinityTerm {
    pub fn is_empty(&self) -> bool {
        self.match_expressions.is_empty() && self.match_fields.is_empty()
    }

    pub fn shown(&self) -> String {
        if self.is_empty() {
            return "(empty term)".into();
        }
        let fields = self
            .match_fields
            .iter()
            .map(|r| format!("field {}", r.shown()));
        self.match_expressions
            .iter()
            .map(Requirement::shown)
            .chain(fields)
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

/// One container that runs as a pipeline step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Task {
    /// Task path as shown in the pipeline UI (`outer-loop/train`).
    pub name: String,
    /// v2 executor label or Argo/Tekton template name.
    pub executor: Option<String>,
    pub image: Option<String>,
    pub resources: Resources,
    pub node_selector: Vec<(String, String)>,
    /// Required node affinity (`requiredDuringSchedulingIgnoredDuringExecution`): its node
    /// selector terms, which Kubernetes ORs. `None` when the task has no required node affinity;
    /// `Some(vec![])` when it has one with no terms (which matches no node).
    pub affinity: Option<Vec<AffinityTerm>>,
    pub tolerations: Vec<Toleration>,
    /// Node selector, affinity or tolerations come from parameters or a pod-spec patch.
    pub dynamic_placement: bool,
    /// Placement written where the platform ignores it (e.g. `container.nodeSelector`).
    pub ignored_placement: Vec<String>,
    /// 1-based line where the task's container is defined, when known.
    pub line: Option<u64>,
}

impl Task {
    /// Every label requirement of every required node-affinity term.
    pub fn affinity_requirements(&self) -> impl Iterator<Item = &Requirement> {
        self.affinity
            .iter()
            .flatten()
            .flat_map(|t| t.match_expressions.iter())
    }

    /// The requirements matching `pick` when every required node-affinity term has one, so the
    /// pod can only land where one holds (terms are ORed: one term without such a requirement
    /// lets it land anywhere that term allows); empty otherwise.
    pub fn affinity_pins(&self, pick: impl Fn(&Requirement) -> bool) -> Vec<&Requirement> {
        let Some(terms) = self.affinity.as_ref().filter(|t| !t.is_empty()) else {
            return Vec::new();
        };
        let per_term: Vec<Vec<&Requirement>> = terms
            .iter()
            .map(|t| t.match_expressions.iter().filter(|r| pick(r)).collect())
            .collect();
        if per_term.iter().any(Vec::is_empty) {
            return Vec::new();
        }
        per_term.into_iter().flatten().collect()
    }
}

/// A parsed compiled pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub format: Format,
    pub name: Option<String>,
    pub sdk_version: Option<String>,
    pub tasks: Vec<Task>,
    /// v2 platform-spec executor labels with no matching executor: (label, line).
    pub orphan_platform_executors: Vec<(String, Option<u64>)>,
}
