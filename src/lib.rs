//! kfcheck: tells a platform team whether a Kubeflow cluster is really ready for data scientists.
//!
//! Layers (dependencies flow one way, low to high; `tests/layers.rs` enforces the order and
//! docs/architecture.md explains it): `units`, `model`, `assets` < `pipeline`, `clients` <
//! `janitor`, `context` < `doors` < `kinds` < `suite` < `runner` < `report` < `cleanup`,
//! `probe`, `local` < `cli` < `commands` < `app`, `fuzzing`. `report` sees only `model` (results
//! and run events); `commands` does each subcommand's work; `app` wires the parsed command line
//! to them.

pub mod app;
pub mod assets;
pub mod cleanup;
pub mod cli;
pub mod clients;
pub(crate) mod commands;
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
