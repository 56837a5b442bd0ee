//! # sentinel-actors: the pypi-sentinel engine
//!
//! (crate map written with the engine)

#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod model;
pub mod policy;
