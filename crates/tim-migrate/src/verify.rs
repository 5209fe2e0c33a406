//! `tim-migrate verify`: read every group back and compare it with the input (not built yet).

use crate::cli::{Exit, VerifyArgs};

/// Why a verification could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The pipeline is not part of this build yet.
    #[error("tim-migrate verify is not built yet")]
    NotBuilt,
}

/// Runs `verify`.
pub async fn run(args: &VerifyArgs) -> Result<Exit, VerifyError> {
    let _ = args;
    Err(VerifyError::NotBuilt)
}
