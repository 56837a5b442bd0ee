//! `audit_project` on the handle: check the target, read the project once (on the CPU
//! pool), and ask the audit question (`crate::question::audit`), whose walk the
//! router runs.

use std::time::Duration;

use tokio::time::Instant;

use super::EngineHandle;
use super::scan_api::ScanInput;
use crate::question::audit::Audit;
use sentinel_core::audit::AuditReport;
use sentinel_core::model::{QueryError, RESOLVE_TARGET, Target};
use sentinel_core::views::deps::TargetEnv;

/// An audit is a batch: it may take this many question deadlines (45 s by default),
/// asking again for what our own rate limit deferred.
pub const AUDIT_DEADLINE_FACTOR: u32 = 3;

impl EngineHandle {
    /// Audits a project (a path under `scan.allowed_dirs`, or a file's content): its
    /// declared dependencies checked against PyPI (outdated, yanked, missing pins), the
    /// tree it installs for the target (resolved, or its lockfile's pins) checked for
    /// known vulnerabilities (each with the requirement chain that brings it in and
    /// the smallest fix), and the supply-chain check of every direct dependency. The
    /// verdict is `clean`, `findings` or `incomplete`; see
    /// [`audit`](sentinel_core::audit) for what fails an audit.
    pub async fn audit_project(
        &self,
        input: ScanInput,
        target: &Target,
    ) -> Result<AuditReport, QueryError> {
        // A bad target is the caller's error, named before any file is read.
        target.only(RESOLVE_TARGET)?;
        let env = TargetEnv::of(target)?;
        let parsed = self.read_project(input).await?;
        let _guard = self.enter()?;
        let whole = Duration::from_millis(self.shared().cfg.timeouts.deadline_ms);
        let end = Instant::now() + whole * AUDIT_DEADLINE_FACTOR;
        let audit = Audit {
            parsed,
            target: target.clone(),
            env,
        };
        self.ask_by(audit, end).await
    }
}
