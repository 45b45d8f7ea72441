//! Protocol clients that kinds, the probe and `local-run` share: the KFP REST API (with the Dex
//! login through the gateway), Google Cloud Storage and S3-compatible stores behind one bucket
//! interface, what their HTTP has in common (credentials,
//! TLS, bounded retries, capped bodies; `errors` tells error chains once), the Jupyter kernel
//! messages the notebook door will speak, running one labelled container to completion, a
//! port-forward to a Service through the Kubernetes API, redaction of what containers print, and
//! bounded, honest reads of files a user names. Kinds get them from the context (`Needs`), never
//! build their own.

pub mod bucket;
pub mod container;
pub mod dex;
pub mod errors;
pub mod files;
pub mod gcs;
pub mod http;
pub mod jupyter;
pub mod jupyter_msg;
pub mod kfp;
pub mod kfp_spec;
pub mod portforward;
pub mod redact;
pub mod s3;
pub mod store;

pub use kfp::{KfpClient, KfpError};
