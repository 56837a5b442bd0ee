//! `get_top_downloaded_packages` / `pypi-sentinel top`.

use schemars::JsonSchema;
use sentinel_actors::views::downloads::TopPackages;
use sentinel_actors::{Datum, EngineHandle, QueryError};
use serde::Deserialize;

/// How many of the most downloaded packages to list.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Top {
    /// Number of packages, 1 to 1000. Default 10.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<i64>,
}

impl Top {
    /// The top of the 30-day ranking.
    pub async fn ask(&self, engine: &EngineHandle) -> Result<Datum<TopPackages>, QueryError> {
        let limit = sentinel_actors::limits::top_limit(self.limit.unwrap_or(10))?;
        engine.top_packages(limit).await
    }
}
