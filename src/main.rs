//! The `pypi-sentinel` binary: see `pypi_sentinel::cli`.

fn main() -> std::process::ExitCode {
    pypi_sentinel::cli::run()
}
