//! `kfcheck local-run` and `kfcheck parity`: turns the parsed flags into `local`'s own
//! parameters and runs them.

use super::shared::settings;
use crate::cli::{Global, LocalRunArgs};
use crate::local::LocalRun;
use crate::model::AppOutput;
use std::path::Path;

pub(crate) fn local_run(g: &Global, a: &LocalRunArgs) -> AppOutput {
    let run = LocalRun {
        pipeline: a.pipeline.clone(),
        workdir: a.workdir.clone(),
        params: a.params.clone(),
        images: a.images.clone(),
        pull: a.pull,
        step_timeout: a.step_timeout,
        network: a.network.clone(),
        gpus: a.gpus,
    };
    crate::local::run(&settings(g), &run)
}

pub(crate) fn parity(expected: &Path, actual: &Path) -> AppOutput {
    crate::local::parity(expected, actual)
}
