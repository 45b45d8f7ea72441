//! kfcheck: tells a platform team whether a Kubeflow cluster is really ready for data scientists.
//!
//! Layers (dependencies flow one way): `model` ← `kinds` ← `runner`; `report` sees only `model`
//! and run events; `app` wires the command line to them.

pub mod app;
pub mod assets;
pub mod cleanup;
pub mod cli;
pub mod clients;
pub mod context;
pub mod doors;
#[doc(hidden)]
pub mod fuzzing;
pub mod janitor;
pub mod kinds;
pub mod local;
pub mod model;
pub mod pipeline;
pub mod probe;
pub mod report;
pub mod runner;
pub mod suite;
pub mod units;

pub use app::{run, AppOutput};
