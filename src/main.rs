//! The `ssm-vcr` binary: the library's command line, nothing more.

use std::process::ExitCode;

fn main() -> ExitCode {
    ssm_vcr::cli::run()
}
