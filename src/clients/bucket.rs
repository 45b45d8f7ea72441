//! One bucket client, whichever protocol ([`Store`] over [`super::gcs`] and [`super::s3`]):
//! what the round trip, the IO streams and the janitor call, and how a bucket URL names its
//! protocol ([`Provider`]).

use super::gcs::GcsClient;
use super::s3::S3Client;
use super::store::{ObjectInfo, StoreError};
use bytes::Bytes;

/// Which protocol a bucket is reached with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Gcs,
    S3,
}

impl Provider {
    /// The URL scheme of a bucket: `gs://`, or `s3://` / `minio://` (what KFP's pipeline root
    /// and Argo's artifact repository call an S3-compatible store).
    pub fn of_url(url: &str) -> Option<(Provider, &str)> {
        let (scheme, rest) = url.split_once("://")?;
        let p = match scheme {
            "gs" => Provider::Gcs,
            "s3" | "minio" => Provider::S3,
            _ => return None,
        };
        Some((p, rest))
    }

    pub fn scheme(self) -> &'static str {
        match self {
            Provider::Gcs => "gs",
            Provider::S3 => "s3",
        }
    }
}

/// One bucket client, whichever protocol: what the round trip, the IO probe and the janitor call.
pub enum Store {
    Gcs(GcsClient),
    S3(S3Client),
}

impl Store {
    pub fn provider(&self) -> Provider {
        match self {
            Store::Gcs(_) => Provider::Gcs,
            Store::S3(_) => Provider::S3,
        }
    }

    /// Who the store sees (a service account, an access key's owner as configured), never a
    /// credential.
    pub fn identity(&self) -> String {
        match self {
            Store::Gcs(c) => c.identity(),
            Store::S3(c) => c.identity().to_string(),
        }
    }

    /// Where the credentials came from, for the report: (kind, description).
    pub fn credentials(&self) -> (&'static str, String) {
        match self {
            Store::Gcs(c) => (c.source().kind(), c.source().describe()),
            Store::S3(c) => (c.source_kind(), c.source_description().to_string()),
        }
    }

    pub fn endpoint(&self) -> &str {
        match self {
            Store::Gcs(c) => c.endpoint(),
            Store::S3(c) => c.endpoint(),
        }
    }

    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        max: u32,
    ) -> Result<Vec<ObjectInfo>, StoreError> {
        match self {
            Store::Gcs(c) => c.list(bucket, prefix, max).await,
            Store::S3(c) => c.list(bucket, prefix, max).await,
        }
    }

    pub async fn upload(
        &self,
        bucket: &str,
        object: &str,
        content_type: &str,
        data: Bytes,
    ) -> Result<(), StoreError> {
        match self {
            Store::Gcs(c) => c.upload(bucket, object, content_type, data).await,
            Store::S3(c) => c.upload(bucket, object, content_type, data).await,
        }
    }

    pub async fn download(&self, bucket: &str, object: &str) -> Result<Bytes, StoreError> {
        match self {
            Store::Gcs(c) => c.download(bucket, object).await,
            Store::S3(c) => c.download(bucket, object).await,
        }
    }

    pub async fn download_to(
        &self,
        bucket: &str,
        object: &str,
        sink: impl FnMut(&[u8]),
    ) -> Result<u64, StoreError> {
        match self {
            Store::Gcs(c) => c.download_to(bucket, object, sink).await,
            Store::S3(c) => c.download_to(bucket, object, sink).await,
        }
    }

    pub async fn delete(&self, bucket: &str, object: &str) -> Result<(), StoreError> {
        match self {
            Store::Gcs(c) => c.delete(bucket, object).await,
            Store::S3(c) => c.delete(bucket, object).await,
        }
    }
}
