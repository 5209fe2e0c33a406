//! `tim-migrate import`: groups, then messages, then members, resumable (not built yet).
//!
//! The pipeline will build on the offline modules: [`crate::prepare::Prepared`] for each group's
//! ordered stream with final `Random`s, [`crate::checkpoint::Checkpoint`] for what the server
//! confirmed, [`crate::rejects::RejectsWriter`] and [`crate::report::ImportReport`].

use crate::cli::{Exit, ImportArgs};

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The pipeline is not part of this build yet.
    #[error("tim-migrate import is not built yet")]
    NotBuilt,
}

/// Runs `import`.
pub async fn run(args: &ImportArgs) -> Result<Exit, ImportError> {
    let _ = args;
    Err(ImportError::NotBuilt)
}
