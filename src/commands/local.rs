//! `kfcheck local-run` and `kfcheck parity`: turns the parsed flags into `local`'s own
//! parameters and runs them.

use super::shared::settings;
use crate::cli::{Global, LocalRunArgs};
use crate::local::{Against, LocalRun, StoreAccess};
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

pub(crate) fn parity(
    g: &Global,
    expected: &Path,
    actual: Option<&Path>,
    workflow: Option<&str>,
    run: Option<&str>,
    store: StoreAccess,
) -> AppOutput {
    let against =
        match (actual, workflow, run) {
            (Some(p), None, None) => Against::Manifest(p.to_path_buf()),
            (None, Some(w), None) => Against::Workflow(w.to_string()),
            (None, None, Some(r)) => Against::Run(r.to_string()),
            _ => return AppOutput::usage(
                "parity compares with one of: a second MANIFEST, --workflow NAME or --run RUN_ID",
            ),
        };
    crate::local::parity(&settings(g), expected, &against, &store)
}
