//! pypi-sentinel
