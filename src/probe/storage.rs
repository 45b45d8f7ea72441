//! `kfcheck probe storage`: a bucket round trip (GCS or S3) with the credentials the environment
//! gives, timed per step (`doors::store_run` does the work, so the host-side checks run the very
//! same code); optionally leaves a result object behind for the caller to verify and remove.

use super::ProbeStatus;
use crate::doors::store_run::{roundtrip, RoundTrip};
use serde_json::Value;

pub type StorageProbe = RoundTrip;

pub(crate) async fn run(a: &StorageProbe) -> (ProbeStatus, Value) {
    roundtrip(a).await
}
