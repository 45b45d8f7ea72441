//! Compiled pipelines: parse KFP v2 IR, the KFP v2 backend's Argo Workflows, KFP v1 Argo and
//! Tekton into one task model, lint it, and find who owns each file. Never writes to the files
//! it reads.

// Readers depend one way, each file only on those after it: `parse` (detects the format and
// dispatches) → `argo_v2` (walks its JSON with `v2`) → `v2`, `argo`, `tekton` (shapes to task
// model; `tekton` borrows from `argo`) → `shapes` (the serde shapes of every format) → `yaml`
// (errors, scalars, lines, alias budget).
pub mod argo;
pub mod argo_v2;
pub mod fit;
pub mod inputs;
pub mod labels;
pub mod lint;
pub mod model;
pub mod owners;
pub mod parse;
pub mod quantity;
pub mod repo_config;
pub mod rules;
pub mod shapes;
pub mod skim;
pub mod tekton;
pub mod v2;
pub mod yaml;

pub use lint::{lint_sources, FileReport, LintOptions, Source};
pub use parse::{parse_pipeline, ParseError};
