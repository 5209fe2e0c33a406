//! The connection to the target: one client for the whole run, checked with one cheap call
//! before any work, so that a wrong URL or key stops the run at once with exit status 2.

use tim_client::{Client, Error as ClientError, Rate};
use tim_model::api::get_group_info::GetGroupInfoRequest;

use crate::cli::TargetArgs;

/// Why the target cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The client could not be set up (e.g. a malformed base URL).
    #[error(transparent)]
    Build(#[from] tim_client::BuildError),
    /// The first call failed: unreachable, or credentials refused.
    #[error("cannot use the target {url}; check --base-url/--region, --sdkappid, --identifier and the secret key")]
    Refused {
        /// The base URL.
        url: String,
        /// The failure.
        #[source]
        source: ClientError,
    },
}

/// Builds the client for `target` at `rate` and makes one `get_group_info` call (for a group ID
/// that no importer uses) to prove that the target answers and accepts the credentials.
pub async fn connect(target: &TargetArgs, rate: Rate) -> Result<Client, ConnectError> {
    let client = Client::builder()
        .base_url(target.base_url())
        .sdkappid(target.sdkappid)
        .identifier(target.identifier.clone())
        .secret_key(target.secret_key.clone())
        .edition(target.edition)
        .rate(rate)
        .build()?;
    let probe = GetGroupInfoRequest {
        group_id_list: vec!["tim-migrate-connection-check".to_owned()],
        response_filter: None,
    };
    // Each entry carries its own error code (the group does not exist): only the envelope counts.
    client
        .get_group_info(&probe)
        .await
        .map_err(|source| ConnectError::Refused {
            url: client.base_url().to_owned(),
            source,
        })?;
    Ok(client)
}
