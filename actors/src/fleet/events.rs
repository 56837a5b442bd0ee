//! Wake-ups for lease waiters (FLEET.md 5.5): a replica that fills a document in L2
//! publishes `filled <key>` on `<ns>:v1:events` (in the write script); each replica
//! keeps one pub/sub connection subscribed to it and wakes its waiters on that key at
//! once. Pub/sub is at most once (a message sent while a replica reconnects is lost),
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
                        if payload.len() <= MAX_MESSAGE
                            && let Some(key) = std::str::from_utf8(payload)
                                .ok()
                                .and_then(|p| p.strip_prefix("filled "))
                            && me.fill_waiters.wake(key)
                        {
                            me.counters.fill_wakeups.fetch_add(1, Relaxed);
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
