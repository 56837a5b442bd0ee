//! Wake-ups for lease waiters (FLEET.md 5.5): a replica that fills a document in L2
//! publishes `filled <key> <replica>` on `<ns>:v1:events` (in the write script), a holder whose
//! fetch failed `failed <key> <kind> <retry_after_ms>`, one that gave its lease up
//! unused (cancelled, held back by its own limits) `released <key>` (`lease.rs`): the
//! waiters read L2 again at once and find the copy, the failure marker or the free
//! lease; and a `filled` by another replica reloads the copy this replica's memory holds
//! (`reload.rs`). Each replica keeps one pub/sub connection subscribed to it and wakes
//! its waiters on that key at once. Pub/sub is at most once (a message sent while a replica reconnects is lost),
//! so nothing correct depends on it: waiters keep polling L2 as the backstop
//! (`l2.rs`), and the wake-up only makes them read sooner. The subscriber reconnects
//! every second while Redis is away; it never touches the answer path.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::client::FleetClient;

/// Longest message read (ours are a word and a key); longer ones are ignored.
const MAX_MESSAGE: usize = 1024;

/// The document key whose waiters a message wakes: `filled <key> <replica>`,
/// `released <key>`, `failed <key> <kind> <retry_after_ms>`.
fn waking(p: &str) -> Option<&str> {
    let (word, rest) = p.split_once(' ')?;
    match word {
        "filled" | "released" => rest.split(' ').next().filter(|k| !k.is_empty()),
        "failed" => {
            let mut it = rest.rsplitn(3, ' ');
            let (_ms, _kind, key) = (it.next()?, it.next()?, it.next()?);
            Some(key)
        }
        _ => None,
    }
}

/// The document another replica than `me` just filled (`reload.rs`).
fn filled_elsewhere<'a>(p: &'a str, me: &str) -> Option<&'a str> {
    let (key, by) = p.strip_prefix("filled ")?.split_once(' ')?;
    (by != me).then_some(key)
}

impl FleetClient {
    /// Subscribes to the events channel until shutdown, reconnecting every second.
    pub(crate) fn spawn_events(self: &Arc<Self>, shutdown: CancellationToken) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(client) = me.upgrade() else { return };
                let (redis, channel) = (client.redis.clone(), client.keys.events());
                drop(client);
                let connected = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    c = tokio::time::timeout(Duration::from_secs(2), redis.get_async_pubsub()) => c,
                };
                if let Ok(Ok(mut ps)) = connected
                    && ps.subscribe(&channel).await.is_ok()
                {
                    if let Some(me) = me.upgrade() {
                        me.counters.events_subscriptions.fetch_add(1, Relaxed);
                    }
                    let mut messages = ps.into_on_message();
                    loop {
                        let msg = tokio::select! {
                            _ = shutdown.cancelled() => return,
                            m = messages.next() => m,
                        };
                        let Some(msg) = msg else { break };
                        let Some(me) = me.upgrade() else { return };
                        let payload = msg.get_payload_bytes();
                        let Some(text) = std::str::from_utf8(payload)
                            .ok()
                            .filter(|_| payload.len() <= MAX_MESSAGE)
                        else {
                            continue;
                        };
                        if let Some(key) = waking(text)
                            && me.fill_waiters.wake(key)
                        {
                            me.counters.fill_wakeups.fetch_add(1, Relaxed);
                        }
                        if let Some(key) = filled_elsewhere(text, &me.replica) {
                            me.on_filled(key);
                        }
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_event_wakes_its_documents_waiters() {
        assert_eq!(super::waking("filled ns:v1:doc:x r1"), Some("ns:v1:doc:x"));
        assert_eq!(super::waking("released ns:v1:doc:x"), Some("ns:v1:doc:x"));
        assert_eq!(
            super::waking("failed ns:v1:doc:x status 5000"),
            Some("ns:v1:doc:x")
        );
        assert_eq!(super::waking("failed ns:v1:doc:x"), None);
        assert_eq!(super::waking("breaker pypi open r1"), None);
        assert_eq!(
            super::filled_elsewhere("filled ns:v1:doc:x r1", "r2"),
            Some("ns:v1:doc:x")
        );
        assert_eq!(super::filled_elsewhere("filled ns:v1:doc:x r1", "r1"), None);
    }
}
