//! `kfcheck probe storage|gpu|env`: turns the parsed flags into the probe's own parameters and
//! runs it within the global `--timeout`.

use crate::cli::{ProbeArgs, ProbeWhat};
use crate::model::AppOutput;
use crate::probe::{EnvProbe, Probe, StorageProbe};
use std::time::Duration;

pub(crate) fn probe(args: &ProbeArgs, deadline: Duration) -> AppOutput {
    let probe = match &args.what {
        ProbeWhat::Storage(a) => Probe::Storage(StorageProbe {
            bucket: a.bucket.clone(),
            prefix: a.prefix.clone(),
            run_id: a.run_id.clone(),
            scope: a.scope.clone(),
            size: a.size.clone(),
            key_file: a.key_file.clone(),
            endpoint: a.endpoint.clone(),
            no_metadata: a.no_metadata,
            upload_result: a.upload_result,
        }),
        ProbeWhat::Gpu(a) => {
            if !(a.seconds > 0.0 && a.seconds <= 3600.0) {
                return AppOutput::usage(format!(
                    "probe gpu: --seconds must be between 0 and 3600 (got {})",
                    a.seconds
                ));
            }
            Probe::Gpu {
                expect: a.expect,
                load: a.load.then_some(crate::probe::gpu_load::LoadArgs {
                    seconds: a.seconds,
                    min_compute: a.min_compute,
                    min_memory: a.min_memory,
                    min_host_link: a.min_host_link,
                    sample: !a.no_sample,
                }),
            }
        }
        ProbeWhat::Env(a) => Probe::Env(EnvProbe {
            endpoint: a.endpoint.clone(),
            secrets_dir: a.secrets_dir.clone(),
            no_metadata: a.no_metadata,
        }),
    };
    crate::probe::run(&probe, args.output_file.as_deref(), deadline)
}
