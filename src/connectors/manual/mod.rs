//! A step a person carries out (a paper archive, a vendor reached by email).

pub mod config;

use super::{Connector, ConnectorError, FindRequest, RowSink};

/// A person's step: the executor never calls it to find records (it asks the request's
/// confirmations instead), and there is nothing for it to write.
pub struct ManualConnector;

#[async_trait::async_trait]
impl Connector for ManualConnector {
    async fn find(
        &self,
        _req: &FindRequest<'_>,
        _sink: &mut dyn RowSink,
    ) -> Result<u64, ConnectorError> {
        Err(ConnectorError::Unsupported(
            "reading records from a manual step",
        ))
    }
}

/// A manual system has nothing to connect to.
pub async fn open(
    _system: &super::SystemSpec,
    _cfg: &config::Config,
    _base_dir: &std::path::Path,
) -> Result<std::sync::Arc<dyn Connector>, ConnectorError> {
    Ok(std::sync::Arc::new(ManualConnector))
}
