//! `pypi-sentinel fleet status [--json]`: the fleet's shared tier as Redis holds it for
//! this configuration (`[fleet] redis_url`, `--redis-url`): replicas seen, the fleet
//! quotas' use and next slot, L2 documents, leases held (documents and breaker
//! probes), MCP sessions, each replica's breakers and the fleet's upstream requests
//! per minute for the last 10 minutes. Read by the engine crate (`sentinel_actors::fleet_status`);
//! this file only prints it.

use clap::Subcommand;
use sentinel_actors::{EngineConfig, FleetSnapshot};

use super::{Exit, Failure, output};

/// The `fleet` commands.
#[derive(Subcommand, Debug)]
pub(super) enum FleetAction {
    /// Replicas seen, quotas, L2 documents, leases and probe leases in Redis.
    Status,
}

pub(super) async fn run(cfg: EngineConfig, action: FleetAction, json: bool) -> Result<(), Failure> {
    match action {
        FleetAction::Status => {
            let status = sentinel_actors::fleet_status(&cfg).await.map_err(|e| {
                let code = if cfg.fleet.enabled() {
                    Exit::Unavailable
                } else {
                    Exit::Config
                };
                Failure::new(code, format!("fleet status: {e}"))
            })?;
            let text = if json {
                let mut s = serde_json::to_string_pretty(&status)
                    .map_err(|e| Failure::new(Exit::Internal, e.to_string()))?;
                s.push('\n');
                s
            } else {
                render(&status)
            };
            output::emit(&text);
            Ok(())
        }
    }
}

fn secs(ms: i64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn render(s: &FleetSnapshot) -> String {
    let mut out = format!("fleet on {} (namespace {})", s.redis_url, s.namespace);
    if let Some(v) = &s.redis_version {
        out.push_str(&format!(", Redis {v}"));
    }
    if let Some(m) = s.used_memory_bytes {
        out.push_str(&format!(", {:.1} MiB used", m as f64 / 1_048_576.0));
    }
    out.push('\n');
    out.push_str(&format!("replicas seen in 5 min: {}\n", s.replicas.len()));
    for r in &s.replicas {
        out.push_str(&format!(
            "  {}  last heartbeat {} ago\n",
            r.id,
            secs(r.last_seen_ms)
        ));
    }
    if s.quotas.is_empty() {
        out.push_str("fleet quotas: none (no strict upstream enabled)\n");
    }
    for q in &s.quotas {
        let windows: Vec<String> = q
            .windows
            .iter()
            .map(|w| {
                format!(
                    "{} of {} per {}{}",
                    w.used,
                    w.limit,
                    secs(w.window_ms as i64),
                    if w.reserved_ahead > 0 {
                        format!(" (+{} reserved)", w.reserved_ahead)
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        let next = match q.next_slot_ms {
            Some(0) => "now".to_string(),
            Some(ms) => format!("in {}", secs(ms)),
            None => "unknown (Redis refused the script)".to_string(),
        };
        out.push_str(&format!(
            "quota {}: {}; next slot {next}\n",
            q.upstream,
            windows.join(", ")
        ));
    }
    let by: Vec<String> =
        s.l2.by_upstream
            .iter()
            .map(|(u, n)| format!("{u} {n}"))
            .collect();
    out.push_str(&format!(
        "L2: {} documents, {:.1} KiB{}\n",
        s.l2.documents,
        s.l2.bytes as f64 / 1024.0,
        if by.is_empty() {
            String::new()
        } else {
            format!(" ({})", by.join(", "))
        }
    ));
    out.push_str(&format!("document leases held: {}\n", s.leases_held));
    for l in &s.leases {
        out.push_str(&format!(
            "  {} by {}, {} left\n",
            l.upstream,
            l.holder,
            secs(l.expires_in_ms)
        ));
    }
    out.push_str(&format!("probe leases held: {}\n", s.probe_leases.len()));
    for l in &s.probe_leases {
        out.push_str(&format!(
            "  {} probed by {}, {} left\n",
            l.upstream,
            l.holder,
            secs(l.expires_in_ms)
        ));
    }
    let mut all_closed = Vec::new();
    for b in &s.breakers {
        let open: Vec<&str> = b
            .replicas
            .iter()
            .filter(|(_, st)| *st == "open")
            .map(|(r, _)| r.as_str())
            .collect();
        let half = b.replicas.values().filter(|st| *st == "half_open").count();
        if open.is_empty() && half == 0 {
            all_closed.push(b.upstream.to_string());
            continue;
        }
        out.push_str(&format!(
            "breaker {}: open on {} of {} replicas{}{}\n",
            b.upstream,
            open.len(),
            b.replicas.len(),
            if half > 0 {
                format!(" ({half} half-open)")
            } else {
                String::new()
            },
            if open.is_empty() {
                String::new()
            } else {
                format!(" ({})", open.join(", "))
            }
        ));
    }
    if !all_closed.is_empty() {
        out.push_str(&format!(
            "breakers closed on every replica: {}\n",
            all_closed.join(", ")
        ));
    }
    if s.upstream_requests.is_empty() {
        out.push_str("fleet upstream requests in the last 10 minutes: none\n");
    } else {
        out.push_str("fleet upstream requests per minute, last 10 minutes (oldest first, this minute last):\n");
    }
    for r in &s.upstream_requests {
        let m: Vec<String> = r.minutes.iter().map(u64::to_string).collect();
        out.push_str(&format!("  {}: {}\n", r.upstream, m.join(" ")));
    }
    out.push_str(&format!(
        "MCP sessions: {}; invalidation stream: {} entries{}\n",
        s.mcp_sessions,
        s.stream_entries,
        if s.truncated {
            format!(
                " (counts of the first {} keys only)",
                sentinel_actors::MAX_KEYS
            )
        } else {
            String::new()
        }
    ));
    out
}
