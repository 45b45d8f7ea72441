//! Protocol clients that kinds, the probe and `local-run` share: Google Cloud Storage, running
//! one labelled container to completion, and redaction of what containers print.

pub mod container;
pub mod gcs;
pub mod redact;
