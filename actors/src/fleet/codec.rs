//! The L2 value: what one replica writes to Redis and any other reads back. Values
//! read from Redis are untrusted input: the size is capped, the codec version checked,
//! the HMAC (when the fleet has a signing key) verified, the body parsed with the same
//! serde types as the store's; anything wrong is a miss, never a panic.
//!
//! Layout: `version (1 byte) | mac length (1 byte: 0 or 32) | mac | LZ4 block of the
//! JSON of [`Wire`]`. The fetch time is not in it: Redis stamps it on its own clock
//! (the `at` field beside the value).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use sentinel_core::policy::UpstreamFreshness;
use sentinel_core::upstream::Document;

/// Bumped when [`Wire`] changes incompatibly (a rolling upgrade then sees misses).
pub(crate) const VERSION: u8 = 1;
const MAC_LEN: usize = 32;

#[derive(Serialize, Deserialize)]
struct Wire {
    doc: Arc<Document>,
    etag: Option<String>,
    last_modified: Option<String>,
    /// The upstream's `Cache-Control` as the store keeps it (`UpstreamFreshness::as_ms`:
    /// none unsaid, 0 no-cache, else max-age). Absent in values written before it was
    /// carried: those read as unsaid, so no version bump was needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_age_ms: Option<u64>,
}

/// A document as L2 holds it.
pub(crate) struct L2Doc {
    pub(crate) doc: Arc<Document>,
    pub(crate) etag: Option<String>,
    pub(crate) last_modified: Option<String>,
    /// What the upstream's `Cache-Control` said (never `NoStore`: such a document is
    /// not written to Redis).
    pub(crate) freshness: UpstreamFreshness,
}

/// Why a value read from Redis was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rejected {
    TooLarge,
    Version(u8),
    Truncated,
    BadMac,
    Body,
}

fn mac(key: &[u8], redis_key: &str, body: &[u8]) -> [u8; MAC_LEN] {
    use aws_lc_rs::hmac;
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&k);
    // The key is signed with the body: a signed value moved to another key is refused.
    ctx.update(redis_key.as_bytes());
    ctx.update(&[0]);
    ctx.update(body);
    let tag = ctx.sign();
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Encodes a document; `None` when it is larger than `max` (it stays out of L2).
pub(crate) fn encode(
    d: &L2Doc,
    redis_key: &str,
    signing_key: Option<&[u8]>,
    max: usize,
) -> Option<Vec<u8>> {
    let json = serde_json::to_vec(&Wire {
        doc: d.doc.clone(),
        etag: d.etag.clone(),
        last_modified: d.last_modified.clone(),
        max_age_ms: d.freshness.as_ms(),
    })
    .ok()?;
    let body = lz4_flex::compress_prepend_size(&json);
    let mut out = Vec::with_capacity(2 + MAC_LEN + body.len());
    out.push(VERSION);
    match signing_key {
        Some(k) => {
            out.push(MAC_LEN as u8);
            out.extend_from_slice(&mac(k, redis_key, &body));
        }
        None => out.push(0),
    }
    out.extend_from_slice(&body);
    (out.len() <= max).then_some(out)
}

/// Decodes a value read from Redis, refusing anything not written by a replica of
/// this codec (and, with a signing key, this fleet).
pub(crate) fn decode(
    bytes: &[u8],
    redis_key: &str,
    signing_key: Option<&[u8]>,
    max: usize,
) -> Result<L2Doc, Rejected> {
    if bytes.len() > max {
        return Err(Rejected::TooLarge);
    }
    let (&version, rest) = bytes.split_first().ok_or(Rejected::Truncated)?;
    if version != VERSION {
        return Err(Rejected::Version(version));
    }
    let (&mac_len, rest) = rest.split_first().ok_or(Rejected::Truncated)?;
    let mac_len = mac_len as usize;
    if (mac_len != 0 && mac_len != MAC_LEN) || rest.len() < mac_len {
        return Err(Rejected::Truncated);
    }
    let (tag, body) = rest.split_at(mac_len);
    if let Some(k) = signing_key {
        let want = mac(k, redis_key, body);
        // Constant-time comparison.
        if mac_len != MAC_LEN
            || aws_lc_rs::constant_time::verify_slices_are_equal(tag, &want).is_err()
        {
            return Err(Rejected::BadMac);
        }
    }
    // The declared size is checked before anything is allocated for it.
    let declared = body
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or(Rejected::Truncated)?;
    if declared > max.saturating_mul(16) {
        return Err(Rejected::TooLarge);
    }
    let json = lz4_flex::decompress_size_prepended(body).map_err(|_| Rejected::Body)?;
    let w: Wire = serde_json::from_slice(&json).map_err(|_| Rejected::Body)?;
    Ok(L2Doc {
        doc: w.doc,
        etag: w.etag,
        last_modified: w.last_modified,
        freshness: UpstreamFreshness::from_ms(w.max_age_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> L2Doc {
        L2Doc {
            doc: Arc::new(Document::Top(sentinel_core::upstream::TopDoc {
                last_update: Some("2026-12-01".into()),
                rows: Vec::new(),
            })),
            etag: Some("\"e1\"".into()),
            last_modified: None,
            freshness: UpstreamFreshness::MaxAge(std::time::Duration::from_secs(30)),
        }
    }

    #[test]
    fn round_trips_and_refuses_what_it_did_not_write() {
        let d = sample();
        let bytes = encode(&d, "k", None, 1 << 20).unwrap();
        let back = decode(&bytes, "k", None, 1 << 20).unwrap();
        assert_eq!(back.etag, d.etag);
        assert_eq!(
            back.freshness, d.freshness,
            "the upstream's Cache-Control is carried"
        );
        // A value written before the field existed reads as unsaid.
        let old = serde_json::json!({"doc": d.doc, "etag": null, "last_modified": null});
        let body = lz4_flex::compress_prepend_size(&serde_json::to_vec(&old).unwrap());
        let mut v1 = vec![VERSION, 0];
        v1.extend_from_slice(&body);
        let back = decode(&v1, "k", None, 1 << 20).unwrap();
        assert_eq!(back.freshness, UpstreamFreshness::Unsaid);
        assert_eq!(
            decode(b"", "k", None, 1 << 20).err(),
            Some(Rejected::Truncated)
        );
        assert_eq!(
            decode(b"garbage", "k", None, 1 << 20).err(),
            Some(Rejected::Version(b'g'))
        );
        // Cut short: refused, not a panic.
        assert!(decode(&bytes[..bytes.len() - 3], "k", None, 1 << 20).is_err());
        assert_eq!(decode(&bytes, "k", None, 4).err(), Some(Rejected::TooLarge));
        // A huge declared size is refused before anything is allocated.
        let mut bomb = vec![VERSION, 0];
        bomb.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decode(&bomb, "k", None, 1 << 20).err(),
            Some(Rejected::TooLarge)
        );
    }

    #[test]
    fn a_signed_fleet_refuses_unsigned_and_moved_values() {
        let d = sample();
        let key = b"0123456789abcdef";
        let signed = encode(&d, "k1", Some(key), 1 << 20).unwrap();
        assert!(decode(&signed, "k1", Some(key), 1 << 20).is_ok());
        assert_eq!(
            decode(&signed, "k2", Some(key), 1 << 20).err(),
            Some(Rejected::BadMac)
        );
        let unsigned = encode(&d, "k1", None, 1 << 20).unwrap();
        assert_eq!(
            decode(&unsigned, "k1", Some(key), 1 << 20).err(),
            Some(Rejected::BadMac)
        );
        assert_eq!(
            decode(&signed, "k1", Some(b"another-key-0000"), 1 << 20).err(),
            Some(Rejected::BadMac)
        );
    }
}
