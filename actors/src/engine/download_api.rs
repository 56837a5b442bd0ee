//! `download_package` on the handle: the destination is checked first (only under
//! `download.allowed_dirs`, before anything is fetched), then the file hosts' breaker
//! (an open one refuses at once); the release's file list comes through the router
//! like every document (cache, provenance, breaker; a stale list is fine: a file's
//! sha256 never changes); the file is picked for the target
//! ([`views::package_download`](sentinel_core::views::package_download)); then the bytes are
//! streamed through the files upstream ([`FilesLane`]): its FetchActor reserves each
//! attempt's rate-limit slot, and the attempt holds one of its concurrency permits
//! while the body streams. They are not a cached document.
//!
//! The transfer: only from the index's hosts and `download.allowed_hosts`; the first
//! attempt on the upstream's pooled client, a retry on a connection of its own (so it
//! never reuses the connection that served bad bytes) and only if the retry budget
//! allows; bounded by `download.max_bytes` and the listed size (refused early on the
//! listing or `Content-Length`, cut off when the body grows past it); written to a
//! temporary file in the destination directory, hashed while written, fsynced, and
//! renamed into place only when its sha256 is the listed one. A mismatch or a cut body
//! is retried once; a temporary file never outlives its attempt (it is deleted when
//! dropped, on every error path and on cancellation).
//!
//! The breaker hears the file hosts' own failures only (5xx, 408, 429, connection
//! errors, read timeouts, bodies cut short): never our own limits, the download's
//! deadline, a cancellation or a sha256 mismatch (which may be the index's fault).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{EngineHandle, datum_of};
use crate::actor::transfer::{FilesLane, NoTurn};
use sentinel_core::model::untrusted::redact_urls;
use sentinel_core::model::{Datum, DownloadError, QueryError, UnavailableCause, Upstream};
use sentinel_core::project::paths::AllowedRoots;
use sentinel_core::tags::TagTarget;
use sentinel_core::upstream::{Document, FileInfo};
use sentinel_core::views::package_download::{
    AttemptOutcome, ChosenFile, DownloadAttempt, DownloadRequest, PackageDownload, listing_words,
    pick, unsafe_name_rule,
};

/// Attempts per download: the first, and one retry on a fresh connection.
const MAX_ATTEMPTS: u32 = 2;

impl EngineHandle {
    /// Downloads the file of a release for a target (the best wheel by its tags, else
    /// the sdist, or the kind asked for) into a directory `download.allowed_dirs`
    /// allows, verified against the index's sha256. See the module docs for the
    /// rules; every refusal and failure is a typed [`DownloadError`] and leaves
    /// nothing written.
    pub async fn download_package(
        &self,
        req: &DownloadRequest,
    ) -> Result<Datum<PackageDownload>, QueryError> {
        let cfg = self.shared().cfg.clone();
        // The destination before anything is fetched: a refused one costs no request.
        let (dir, root) = destination(&cfg.download.allowed_dirs, req.dest.as_deref()).await?;
        let _guard = self.enter()?;
        // The file hosts' breaker before anything is fetched: while they keep failing,
        // a download fails at once and costs nobody a request.
        let lane = FilesLane::new(self.shared());
        let pass = lane.admit().await.map_err(files_unavailable)?;
        // One deadline for the whole call, the transfer included: a host that sends a
        // byte just often enough to beat the read timeout cannot hold it for minutes.
        let deadline = self.deadline();
        let (ans, note) = self
            .release_for_target(&req.package, req.version.as_deref(), &req.env, deadline)
            .await?;
        let (Document::Project(p) | Document::Release(p)) = ans.doc.as_ref() else {
            return Err(QueryError::Internal("not a release document".into()));
        };
        let target = TagTarget::for_env(&req.env);
        let mut notes: Vec<String> = note.into_iter().collect();
        if p.info.yanked {
            notes.push(format!(
                "{} {} is yanked{}: pip installs it only when pinned exactly",
                p.info.name,
                p.info.version,
                p.info
                    .yanked_reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
        let refused: Vec<&FileInfo> = p
            .urls
            .iter()
            .filter(|f| unsafe_name_rule(&f.filename).is_some())
            .collect();
        let chosen = match pick(&p.urls, &target, req.kind) {
            Ok(c) => c,
            Err(why) => {
                // Nothing else fits: say what was refused rather than "no file".
                if let Some(f) = refused.first() {
                    return Err(unsafe_name(f).into());
                }
                return Err(DownloadError::NoFileForTarget {
                    package: p.info.name.clone(),
                    version: p.info.version.clone(),
                    why,
                }
                .into());
            }
        };
        if !refused.is_empty() {
            notes.push(format!(
                "{} listed file(s) with unsafe names were not considered",
                refused.len()
            ));
        }
        let file = chosen.file;
        let (Some(link), filename) = (file.link.as_deref(), &file.filename) else {
            return Err(unverifiable(&file.filename, "url"));
        };
        let Some(expected) = link.sha256.clone().filter(|h| is_sha256_hex(h)) else {
            return Err(unverifiable(filename, "sha256"));
        };
        let url = allowed_url(&cfg, &link.url, ans.upstream)?;
        let limit = cfg.download.max_bytes;
        if file.size > limit {
            return Err(oversize(
                filename,
                format!("listed as {} bytes", file.size),
                limit,
            ));
        }
        // A body longer than listed is wrong whatever it hashes to: stop reading there.
        let cap = if file.size > 0 { file.size } else { limit };
        let target_path = dir.join(filename);
        // Belt and braces over `unsafe_name_rule`: the path must be `dir/<one name>`.
        if target_path.parent() != Some(dir.as_path())
            || target_path.file_name().and_then(|n| n.to_str()) != Some(filename.as_str())
        {
            return Err(unsafe_name(file).into());
        }
        let transfer = Transfer {
            url: url.clone(),
            filename,
            expected: &expected,
            cap,
            limit,
            listed_size: file.size,
            lane: &lane,
            deadline,
        };
        let (ended, verdict) = transfer.run(&dir, &target_path).await;
        pass.record(verdict);
        let (attempts, written, got) = ended?;
        let relative = target_path
            .strip_prefix(&root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| filename.clone());
        let report = PackageDownload {
            package: p.info.name.clone(),
            version: p.info.version.clone(),
            file: ChosenFile {
                filename: filename.clone(),
                kind: chosen.kind,
                tags: chosen.tags.clone(),
                matched_tag: chosen.matched_tag.clone(),
                size: file.size,
                url: redact_urls(url.as_str()),
                why: chosen.why.clone(),
            },
            other_candidates: p.urls.len().saturating_sub(1),
            sha256_expected: expected,
            sha256: got,
            verified: true,
            bytes: written,
            path: target_path.display().to_string(),
            relative_path: relative,
            allowed_dir: root.display().to_string(),
            attempts,
            target: req.env.clone(),
            assumed_platform: target.assumptions.clone(),
            // Without a JSON API the file list is the Simple page's, whichever
            // upstream answered the metadata the release document was made from.
            listing: listing_words(match ans.upstream {
                Upstream::Files => Upstream::PypiSimple,
                up => up,
            }),
            notes,
        };
        Ok(datum_of(&ans, report))
    }
}

/// How far the engine's latest file transfer has got: for a progress bar (the CLI
/// runs one download at a time; concurrent downloads share it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransferProgress {
    /// Body bytes received by the latest attempt so far (a retry starts again at 0).
    pub received: u64,
    /// The file's size when known (listed by the index, else announced by the host).
    pub total: Option<u64>,
}

impl EngineHandle {
    /// See [`TransferProgress`]; zero before any download.
    pub fn download_progress(&self) -> TransferProgress {
        let c = &self.shared().fetch[Upstream::Files.index()].counters;
        TransferProgress {
            received: c.bytes_received.load(Relaxed),
            total: Some(c.bytes_expected.load(Relaxed)).filter(|n| *n > 0),
        }
    }
}

fn unsafe_name(f: &FileInfo) -> DownloadError {
    DownloadError::UnsafeFileName {
        filename: sentinel_core::model::clip_echo(&format!("{:?}", f.filename)),
        rule: unsafe_name_rule(&f.filename)
            .unwrap_or("does not stay inside the download directory")
            .into(),
    }
}

fn unverifiable(filename: &str, missing: &str) -> QueryError {
    DownloadError::Unverifiable {
        filename: filename.into(),
        missing: missing.into(),
    }
    .into()
}

fn oversize(filename: &str, what: String, limit: u64) -> QueryError {
    DownloadError::Oversize {
        filename: filename.into(),
        what: format!("{what}, more than the {limit} bytes allowed"),
        limit_bytes: limit,
    }
    .into()
}

fn files_unavailable(cause: UnavailableCause) -> QueryError {
    QueryError::Unavailable {
        upstream: Upstream::Files,
        cause,
        note: None,
        remembered: None,
    }
}

fn is_sha256_hex(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The canonical destination directory under the allowed roots, and the root it is
/// under. Blocking file-system calls, off the async threads.
async fn destination(
    allowed: &[PathBuf],
    dest: Option<&Path>,
) -> Result<(PathBuf, PathBuf), QueryError> {
    let allowed = allowed.to_vec();
    let dest = dest.map(Path::to_path_buf);
    tokio::task::spawn_blocking(move || {
        let roots = AllowedRoots::for_downloads(&allowed);
        let asked = dest.clone().unwrap_or_else(|| PathBuf::from("."));
        let refused = |rule: String| DownloadError::DirNotAllowed {
            dest: sentinel_core::model::clip_echo(&asked.display().to_string()),
            rule,
        };
        let dir = roots.check(&asked).map_err(|r| refused(r.rule))?;
        if !dir.is_dir() {
            return Err(refused("is not a directory".into()));
        }
        let root = roots
            .root_of(&dir)
            .map(Path::to_path_buf)
            .ok_or_else(|| refused("is not under an allowed directory".into()))?;
        Ok((dir, root))
    })
    .await
    .map_err(|e| QueryError::Internal(format!("the destination check failed: {e}")))?
    .map_err(QueryError::from)
}

/// The file's URL resolved against the index it was listed by, if the one rule of
/// [`FileHosts`](sentinel_core::upstream::hosts::FileHosts) allows its host.
fn allowed_url(
    cfg: &crate::config::EngineConfig,
    listed: &str,
    listed_by: sentinel_core::model::Upstream,
) -> Result<reqwest::Url, QueryError> {
    let base = reqwest::Url::parse(&cfg.upstreams.get(listed_by).base_url)
        .map_err(|e| QueryError::Internal(format!("the index base URL does not parse: {e}")))?;
    cfg.file_hosts().resolve(&base, listed).map_err(|r| {
        DownloadError::HostNotAllowed {
            url: r.url,
            host: r.host,
            allowed: r.allowed,
        }
        .into()
    })
}

/// One file's transfer: the attempts, the checks, the write.
struct Transfer<'a> {
    url: reqwest::Url,
    filename: &'a str,
    expected: &'a str,
    /// Bytes past which the body is refused (the listed size, else the limit).
    cap: u64,
    /// `download.max_bytes`.
    limit: u64,
    listed_size: u64,
    /// The files upstream: slots, permits, clients, retry budget, counters.
    lane: &'a FilesLane,
    /// Every attempt ends by then, however slowly the bytes come.
    deadline: tokio::time::Instant,
}

/// How one attempt ended, short of a verified file.
enum AttemptEnd {
    /// Complete, but hashed to something else.
    Corrupt { sha256: String, bytes: u64 },
    /// Ended early.
    Truncated { bytes: u64, expected: u64 },
    /// No usable body (status, connection, timeout), worth one retry.
    Failed { detail: String, status: Option<u16> },
    /// The host's answer is final (a status not worth a retry): it did answer.
    Answered(QueryError),
    /// Our own refusal (size, disk, client): final, and nothing the host did wrong.
    Final(QueryError),
}

impl AttemptEnd {
    /// What the breaker hears of it: the host's failures only.
    fn verdict(&self) -> Option<bool> {
        match self {
            AttemptEnd::Truncated { .. } | AttemptEnd::Failed { .. } => Some(false),
            AttemptEnd::Answered(_) => Some(true),
            AttemptEnd::Corrupt { .. } | AttemptEnd::Final(_) => None,
        }
    }
}

impl Transfer<'_> {
    /// Up to [`MAX_ATTEMPTS`] attempts: the attempts made, the bytes written and their
    /// sha256; and the verdict for the file hosts' breaker.
    async fn run(
        &self,
        dir: &Path,
        target: &Path,
    ) -> (
        Result<(Vec<DownloadAttempt>, u64, String), QueryError>,
        Option<bool>,
    ) {
        let ctx = &self.lane.ctx;
        ctx.counters.requests.fetch_add(1, Relaxed);
        ctx.lock_budget()
            .record_request(tokio::time::Instant::now().into_std());
        let mut attempts = Vec::new();
        let mut last = None;
        let mut verdict = None;
        let mut no_retry = None;
        for n in 1..=MAX_ATTEMPTS {
            if n > 1
                && let Err(why) = self.withdraw_retry()
            {
                no_retry = Some(why);
                break;
            }
            let record = |outcome, bytes: u64, sha256: Option<String>| DownloadAttempt {
                attempt: n,
                outcome,
                bytes,
                sha256,
                new_connection: n > 1,
            };
            // Our own slot and permit: nothing sent yet, nothing for the breaker.
            let permit = match self.lane.turn(self.deadline).await {
                Ok(p) => p,
                Err(NoTurn::Unavailable(cause)) => return (Err(files_unavailable(cause)), verdict),
                Err(NoTurn::NoPermit) => {
                    return (
                        Err(self.transfer_error(
                            "no transfer slot came free before the download's deadline (upstreams.files.max_in_flight downloads run at once); retry when fewer are running".into(),
                            None,
                            n,
                        )),
                        verdict,
                    );
                }
            };
            ctx.count_attempt();
            let timed = tokio::time::timeout_at(self.deadline, self.attempt(n, dir, target)).await;
            drop(permit);
            let Ok(ended) = timed else {
                // The attempt (and its temporary file) was dropped unfinished. Our own
                // deadline: a stalled host is caught by the read timeout instead.
                return (
                    Err(self.transfer_error(
                        "the transfer did not finish within the download's deadline (timeouts.deadline_ms); the file host is too slow".into(),
                        None,
                        n,
                    )),
                    verdict,
                );
            };
            let v = match &ended {
                Ok(_) => Some(true),
                Err(e) => e.verdict(),
            };
            ctx.lock_budget().record_attempt(v != Some(false));
            verdict = v;
            match ended {
                Ok((bytes, sha)) => {
                    attempts.push(record(AttemptOutcome::Verified, bytes, Some(sha.clone())));
                    return (Ok((attempts, bytes, sha)), verdict);
                }
                Err(AttemptEnd::Answered(e) | AttemptEnd::Final(e)) => return (Err(e), verdict),
                Err(AttemptEnd::Corrupt { sha256, bytes }) => {
                    tracing::warn!(file = self.filename, expected = self.expected, got = %sha256, attempt = n, "download: digest mismatch, file discarded");
                    attempts.push(record(AttemptOutcome::Corrupt, bytes, Some(sha256)));
                }
                Err(AttemptEnd::Truncated { bytes, expected }) => {
                    attempts.push(record(AttemptOutcome::Truncated, bytes, None));
                    last = Some(AttemptEnd::Truncated { bytes, expected });
                }
                Err(AttemptEnd::Failed { detail, status }) => {
                    attempts.push(record(AttemptOutcome::Failed, 0, None));
                    last = Some(AttemptEnd::Failed { detail, status });
                }
            }
        }
        if verdict == Some(false) {
            ctx.counters.failures.fetch_add(1, Relaxed);
        }
        let n = attempts.len() as u32;
        // Corrupt on the last attempt (whatever the first did): report every digest.
        if attempts
            .last()
            .is_some_and(|a| a.outcome == AttemptOutcome::Corrupt)
        {
            let e = DownloadError::Corrupt {
                filename: self.filename.into(),
                expected: self.expected.into(),
                got: attempts.iter().filter_map(|a| a.sha256.clone()).collect(),
                attempts: n,
            };
            return (Err(e.into()), verdict);
        }
        let e = match last {
            Some(AttemptEnd::Truncated { bytes, expected }) => DownloadError::Truncated {
                filename: self.filename.into(),
                received: bytes,
                expected_bytes: expected,
                attempts: n,
            },
            Some(AttemptEnd::Failed { detail, status }) => DownloadError::Transfer {
                filename: self.filename.into(),
                detail: match no_retry {
                    Some(why) => format!("{detail} (not retried: {why})"),
                    None => detail,
                },
                status,
                attempts: n,
            },
            _ => DownloadError::Transfer {
                filename: self.filename.into(),
                detail: "no attempt completed".into(),
                status: None,
                attempts: n,
            },
        };
        (Err(e.into()), verdict)
    }

    /// A retry from the files upstream's retry budget, or why there is none.
    fn withdraw_retry(&self) -> Result<(), &'static str> {
        let ctx = &self.lane.ctx;
        let (granted, throttled) = {
            let mut budget = ctx.lock_budget();
            let throttled = budget.throttled();
            (
                budget.try_withdraw(tokio::time::Instant::now().into_std()),
                throttled,
            )
        };
        if granted {
            ctx.counters.retries.fetch_add(1, Relaxed);
            metrics::counter!("sentinel_upstream_retries_total", "upstream" => Upstream::Files.as_str()).increment(1);
            return Ok(());
        }
        ctx.counters.budget_refusals.fetch_add(1, Relaxed);
        metrics::counter!("sentinel_retry_budget_refusals_total", "upstream" => Upstream::Files.as_str()).increment(1);
        Err(if throttled {
            "retries throttled after consecutive failures"
        } else {
            "retry budget exhausted"
        })
    }

    fn transfer_error(&self, detail: String, status: Option<u16>, attempts: u32) -> QueryError {
        DownloadError::Transfer {
            filename: self.filename.into(),
            detail,
            status,
            attempts,
        }
        .into()
    }

    /// Attempt `n`: the bytes written and their sha256 when they are the listed ones
    /// (the file is then in place). The first on the pooled client, a retry on a
    /// connection of its own.
    async fn attempt(
        &self,
        n: u32,
        dir: &Path,
        target: &Path,
    ) -> Result<(u64, String), AttemptEnd> {
        let failed = |detail: String, status: Option<u16>| AttemptEnd::Failed { detail, status };
        let client = if n == 1 {
            self.lane.ctx.client.clone()
        } else {
            self.lane
                .ctx
                .one_off_client()
                .map_err(|e| AttemptEnd::Final(QueryError::Internal(format!("HTTP client: {e}"))))?
        };
        let resp = client
            .get(self.url.clone())
            .send()
            .await
            .map_err(|e| failed(words(&e), None))?;
        let status = resp.status();
        metrics::counter!("sentinel_upstream_requests_total",
            "upstream" => Upstream::Files.as_str(), "status" => status.as_u16().to_string())
        .increment(1);
        if !status.is_success() {
            let retry = status.is_server_error() || matches!(status.as_u16(), 408 | 429);
            let e = DownloadError::Transfer {
                filename: self.filename.into(),
                detail: format!("the file host answered HTTP {}", status.as_u16()),
                status: Some(status.as_u16()),
                attempts: 1,
            };
            return Err(if retry {
                failed(e.to_string(), Some(status.as_u16()))
            } else {
                AttemptEnd::Answered(e.into())
            });
        }
        let announced = resp.content_length();
        // What a progress bar shows (`EngineHandle::download_progress`).
        let progress = &self.lane.ctx.counters;
        progress.bytes_received.store(0, Relaxed);
        let total = match self.listed_size {
            0 => announced.unwrap_or(0),
            listed => listed,
        };
        progress.bytes_expected.store(total, Relaxed);
        if let Some(len) = announced
            && len > self.cap
        {
            return Err(AttemptEnd::Final(
                self.too_big(format!("announced as {len} bytes")),
            ));
        }
        let write_err = |e: std::io::Error| {
            AttemptEnd::Final(
                DownloadError::Write {
                    path: dir.display().to_string(),
                    detail: e.to_string(),
                }
                .into(),
            )
        };
        // In the destination directory, so the final rename never crosses a file
        // system; deleted when dropped unless persisted.
        let mut builder = tempfile::Builder::new();
        builder.prefix(".pypi-sentinel-").suffix(".part");
        // A downloaded file is readable like any other (tempfile's default is 0600).
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
        let temp = builder.tempfile_in(dir).map_err(write_err)?;
        let mut out = tokio::fs::File::from_std(temp.as_file().try_clone().map_err(write_err)?);
        let mut hasher = Sha256::new();
        let mut received: u64 = 0;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let expected = announced.unwrap_or(self.listed_size);
                    return Err(if received < expected {
                        AttemptEnd::Truncated {
                            bytes: received,
                            expected,
                        }
                    } else {
                        failed(words(&e), None)
                    });
                }
            };
            received += chunk.len() as u64;
            progress
                .bytes_received
                .fetch_add(chunk.len() as u64, Relaxed);
            if received > self.cap {
                return Err(AttemptEnd::Final(
                    self.too_big(format!("the body grew past {} bytes", self.cap)),
                ));
            }
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(write_err)?;
        }
        let expected_len = announced.unwrap_or(self.listed_size);
        if received < expected_len {
            return Err(AttemptEnd::Truncated {
                bytes: received,
                expected: expected_len,
            });
        }
        let got = hex(&hasher.finalize());
        if got != self.expected {
            // `temp` is dropped here: the corrupt bytes are deleted.
            return Err(AttemptEnd::Corrupt {
                sha256: got,
                bytes: received,
            });
        }
        out.flush().await.map_err(write_err)?;
        out.sync_all().await.map_err(write_err)?;
        drop(out);
        let target = target.to_path_buf();
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || {
            temp.persist(&target).map_err(|e| e.error)?;
            // The rename itself is durable once the directory is synced.
            #[cfg(unix)]
            std::fs::File::open(&dir)?.sync_all()?;
            Ok::<_, std::io::Error>(())
        })
        .await
        .map_err(|e| write_err(std::io::Error::other(e.to_string())))?
        .map_err(write_err)?;
        Ok((received, got))
    }

    fn too_big(&self, what: String) -> QueryError {
        if self.cap < self.limit {
            DownloadError::Oversize {
                filename: self.filename.into(),
                what: format!("{what}, more than the {} bytes listed", self.cap),
                limit_bytes: self.cap,
            }
            .into()
        } else {
            oversize(self.filename, what, self.limit)
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A transport error in words (its source chain, which says what really happened).
fn words(e: &reqwest::Error) -> String {
    let mut s = redact_urls(&e.to_string());
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&redact_urls(&inner.to_string()));
        src = inner.source();
    }
    if e.is_timeout() {
        s.push_str(" (timed out)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EngineConfig;
    use sentinel_core::model::Upstream;

    fn refusal(e: QueryError) -> (String, String) {
        match e {
            QueryError::Download(d) => match *d {
                DownloadError::HostNotAllowed { host, url, .. } => (host, url),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_file_off_the_allowed_hosts_is_refused_without_echoing_its_credentials() {
        let cfg = EngineConfig::default().with_origin("http://127.0.0.1:8080");
        let ok = allowed_url(&cfg, "/files/sg-web/x.whl", Upstream::PypiJson).unwrap();
        assert_eq!(ok.as_str(), "http://127.0.0.1:8080/files/sg-web/x.whl");
        let (host, url) = refusal(
            allowed_url(
                &cfg,
                "https://user:pw@evil.example/x.whl?token=TOKEN",
                Upstream::PypiJson,
            )
            .unwrap_err(),
        );
        assert_eq!(host, "evil.example");
        assert!(!url.contains("pw") && !url.contains("TOKEN"), "{url}");
        let e = allowed_url(&cfg, "https://user:pw@evil.example/x", Upstream::PypiJson)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("user:pw"), "{e}");
    }
}

#[cfg(test)]
mod slow_host_tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A file host that sends its headers and one byte, then holds the connection open
    /// without sending more (a host dripping bytes just under the read timeout).
    async fn dripping_host() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = sock.read(&mut buf).await;
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nx")
                    .await;
                held.push(sock);
            }
        });
        (addr, task)
    }

    /// The files upstream of an engine that is not started: its context, and its
    /// FetchActor (the only actor a transfer asks).
    async fn lane() -> FilesLane {
        let mut cfg = crate::config::EngineConfig::default();
        cfg.store.path = None;
        let store = crate::store::Store::open(&cfg);
        let shared = crate::actor::EngineShared::new(cfg, store).unwrap();
        let ctx = shared.fetch[Upstream::Files.index()].clone();
        let (fetch, _) = ractor::Actor::spawn(None, crate::actor::fetch::FetchActor, ctx)
            .await
            .unwrap();
        shared.registry.fetch(Upstream::Files).set(Some(fetch));
        FilesLane::new(&shared)
    }

    #[tokio::test]
    async fn a_host_dripping_bytes_is_cut_off_at_the_download_deadline() {
        let (addr, host) = dripping_host().await;
        let dir = tempfile::tempdir().unwrap();
        let lane = lane().await;
        let transfer = Transfer {
            url: reqwest::Url::parse(&format!("http://{addr}/x-1.0-py3-none-any.whl")).unwrap(),
            filename: "x-1.0-py3-none-any.whl",
            expected: &"0".repeat(64),
            cap: 1000,
            limit: 1000,
            listed_size: 1000,
            // The default read timeout (attempt_ms) is far longer than the deadline:
            // only the deadline can end this transfer.
            lane: &lane,
            deadline: tokio::time::Instant::now() + std::time::Duration::from_millis(300),
        };
        let target = dir.path().join("x-1.0-py3-none-any.whl");
        let (ended, verdict) = transfer.run(dir.path(), &target).await;
        let e = ended.unwrap_err();
        let QueryError::Download(d) = e else {
            panic!("{e:?}")
        };
        let DownloadError::Transfer { detail, .. } = *d else {
            panic!("{d:?}")
        };
        assert!(detail.contains("deadline"), "{detail}");
        // Our own deadline is not the host's failure: the breaker hears nothing.
        assert_eq!(verdict, None);
        // Nothing is left behind, not even the temporary file.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        host.abort();
    }
}
