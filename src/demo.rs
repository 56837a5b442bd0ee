//! The offline demo. In progress.
