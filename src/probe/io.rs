//! `kfcheck probe io`: bucket throughput from here, as parallel streams for a set time
//! (`doors::store_run::io` does the work; the io-sweep kind runs it in containers, pods and
//! in-process, at rising concurrency).

use super::ProbeStatus;
use crate::doors::store_run::{io, IoPlan};
use serde_json::Value;

pub(crate) async fn run(a: &IoPlan) -> (ProbeStatus, Value) {
    io(a).await
}
