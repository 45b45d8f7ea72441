//! What a command hands back to `main.rs`: the text for stdout and stderr and the exit status.
//! Commands never print; this is how their output leaves them.

use super::ExitStatus;

/// What to print and how to exit.
#[derive(Debug, Default)]
pub struct AppOutput {
    pub stdout: String,
    pub stderr: String,
    pub exit: Option<ExitStatus>,
}

impl AppOutput {
    /// Bad usage (exit 2), said on stderr as `kfcheck: MESSAGE`.
    pub fn usage(message: impl Into<String>) -> AppOutput {
        AppOutput {
            stderr: format!("kfcheck: {}\n", message.into()),
            exit: Some(ExitStatus::Usage),
            ..Default::default()
        }
    }
}
