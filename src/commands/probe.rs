//! `kfcheck probe storage|io|gpu|env`: turns the parsed flags into the probe's own parameters and
//! runs it within the global `--timeout`.

use crate::cli::StoreArgs;
use crate::cli::{ProbeArgs, ProbeWhat};
use crate::clients::bucket::Provider;
use crate::doors::store_run::{IoMode, IoPlan, StoreTarget};
use crate::model::AppOutput;
use crate::probe::{EnvProbe, Probe, StorageProbe};
use crate::units::parse_size;
use std::time::Duration;

pub(crate) fn probe(args: &ProbeArgs, deadline: Duration) -> AppOutput {
    let probe = match &args.what {
        ProbeWhat::Storage(a) => {
            let target = match store_target(&a.store) {
                Ok(t) => t,
                Err(e) => return AppOutput::usage(format!("probe storage: {e}")),
            };
            Probe::Storage(StorageProbe {
                target,
                prefix: a.store.prefix.clone(),
                run_id: a.store.run_id.clone(),
                scope: a.store.scope.clone(),
                size: a.size.clone(),
                upload_result: a.upload_result,
            })
        }
        ProbeWhat::Io(a) => {
            let plan = (|| -> Result<IoPlan, String> {
                Ok(IoPlan {
                    target: store_target(&a.store)?,
                    prefix: a.store.prefix.clone(),
                    run_id: a.store.run_id.clone(),
                    scope: a.store.scope.clone(),
                    streams: a.streams,
                    object_bytes: parse_size(&a.object_size)?,
                    seconds: a.seconds,
                    max_bytes: parse_size(&a.max_bytes)?,
                    mode: IoMode::parse(&a.mode)?,
                    start_at: a.start_at,
                })
            })();
            match plan {
                Ok(p) => Probe::Io(p),
                Err(e) => return AppOutput::usage(format!("probe io: {e}")),
            }
        }
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

/// The bucket and identity flags `probe storage` and `probe io` share.
fn store_target(a: &StoreArgs) -> Result<StoreTarget, String> {
    let provider = match a.provider.as_deref() {
        Some("s3") => Some(Provider::S3),
        Some(_) => Some(Provider::Gcs),
        None => None,
    };
    let (bucket, provider) = StoreTarget::parse_bucket(&a.bucket, provider)?;
    Ok(StoreTarget {
        bucket,
        provider: Some(provider),
        endpoint: a.endpoint.clone(),
        key_file: a.key_file.clone(),
        no_metadata: a.no_metadata,
        s3_key_dir: a.s3_key_dir.clone(),
        region: a.region.clone(),
        ..StoreTarget::default()
    })
}
