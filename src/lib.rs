//! # pypi-sentinel
//!
//! The product around the engine ([`sentinel_actors`]): the questions a user can ask
//! ([`questions`], one file each, served by both front ends), the command line
//! ([`cli`]) and the MCP server over stdio and streamable HTTP ([`mcp`]) above them,
//! what the questions speak with below them ([`terminal`] for tables, exits and
//! progress, [`structured`] for MCP structured content), configuration loading
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
pub mod structured;
pub mod telemetry;
pub mod terminal;
pub mod text;

pub use sentinel_actors as engine;
pub use sentinel_sim as sim;
