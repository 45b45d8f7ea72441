//! The Google Cloud Storage client for kinds: endpoint and credentials come from the environment
//! (`STORAGE_EMULATOR_HOST`, `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's ADC file, the metadata
//! server) unless the check names a key file or an ADC folder. Built per check: checks may use
//! different identities on purpose.

use super::Needs;
use crate::clients::gcs::{GcsClient, Options, StoreError};
use std::path::PathBuf;

/// What a check may override.
#[derive(Debug, Clone, Default)]
pub struct GcsChoice {
    pub key_file: Option<PathBuf>,
    /// A gcloud configuration folder holding application_default_credentials.json.
    pub adc_dir: Option<PathBuf>,
    pub endpoint: Option<String>,
    pub no_metadata: bool,
}

/// Environment variables a container needs to reach the same storage endpoint as kfcheck.
pub const PASS_THROUGH_ENV: &[&str] = &["STORAGE_EMULATOR_HOST", "GCE_METADATA_HOST"];

impl Needs {
    /// A GCS client for this check's choice of credentials.
    pub async fn gcs(&self, choice: &GcsChoice) -> Result<GcsClient, StoreError> {
        let mut o = Options::from_env();
        o.endpoint = choice.endpoint.clone();
        o.no_metadata = choice.no_metadata;
        if choice.key_file.is_some() {
            o.key_file = choice.key_file.clone();
        }
        if let Some(dir) = &choice.adc_dir {
            o.adc_file = None;
            o.gcloud_dir = Some(dir.clone());
        }
        GcsClient::connect(&o).await
    }

    /// `NAME=value` for each pass-through variable set in kfcheck's environment.
    pub fn storage_env(&self) -> Vec<String> {
        PASS_THROUGH_ENV
            .iter()
            .filter_map(|k| {
                std::env::var(k)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("{k}={v}"))
            })
            .collect()
    }
}
