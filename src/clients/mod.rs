//! Protocol clients that kinds share. Kinds get them from the context (`Needs`), never build
//! their own.

pub mod kfp;
pub mod kfp_spec;

pub use kfp::{KfpClient, KfpError};
