//! # sentinel-actors: the pypi-sentinel engine (being assembled)

#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod config;
pub mod model;
pub mod policy;
