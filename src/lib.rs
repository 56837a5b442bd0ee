//! # pypi-sentinel
//!
//! The product around the engine ([`sentinel_actors`]): the command line ([`cli`]),
//! the MCP server over stdio and streamable HTTP ([`mcp`]), configuration loading
//! ([`config`]), logs and metrics ([`telemetry`]), returning freed memory to the OS ([`memory`]), secrets and redaction ([`secret`]),
//! and the offline demo ([`demo`]).
//! The simulator of the upstreams is the `sentinel-sim` crate.

#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod cli;
pub mod config;
pub mod demo;
pub mod describe;
pub mod mcp;
pub mod memory;
pub mod questions;
pub mod secret;
pub mod status;
pub mod telemetry;
pub mod text;

pub use sentinel_actors as engine;
pub use sentinel_sim as sim;
