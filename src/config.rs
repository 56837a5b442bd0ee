//! Configuration loading (TOML file, `PYPI_SENTINEL_*` environment, flags). In progress.
