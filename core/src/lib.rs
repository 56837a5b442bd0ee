//! # sentinel-core: pypi-sentinel's pure bottom
//!
//! Everything the engine (`sentinel-actors`) computes without a runtime, a network or
//! a database: validated names and versions, queries, provenance and typed errors,
//! the policies as pure state machines on an injected `now`, and the cancel flag that
//! long jobs check. This crate depends on no tokio, reqwest, ractor, rusqlite or moka,
//! so an import from here back up into the engine does not compile.
//!
//! ## Crate map
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`model`] | validated names and versions, queries, provenance, typed errors, limits, `untrusted` guards, calendar days, partial results |
//! | [`policy`] | pure state machines: retry/backoff, retry budget, breaker, rate limit, restart intensity, daily freshness, sliding window; time comes in as `now: std::time::Instant` |
//! | [`cancel`] | [`cancel::CancelFlag`], raised when a job's answer is no longer wanted |

#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod cancel;
pub mod model;
pub mod policy;
