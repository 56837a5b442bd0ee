//! policies (in progress)
