//! The `ssm-vcr` binary: parse the command line, run the command, map failure to an exit code.

use std::process::ExitCode;

use clap::Parser;
use ssm_vcr::cli::{AuditCommand, CassetteCommand, Cli, Command, ConfigCommand};
use ssm_vcr::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(flags) => commands::serve(&flags),
        Command::Config(ConfigCommand::Check { config }) => commands::config_check(config),
        Command::Cassette(CassetteCommand::Check { files, config }) => {
            commands::cassette_check(files, config)
        }
        Command::Cassette(CassetteCommand::Redact { files }) => commands::cassette_redact(&files),
        Command::Model => commands::model(),
        Command::Audit(AuditCommand::Verify { files }) => commands::audit_verify(&files),
        Command::Audit(AuditCommand::Show { files, filter }) => {
            commands::audit_show(&files, &filter)
        }
        Command::Audit(AuditCommand::Follow { file, filter }) => {
            commands::audit_follow(&file, &filter)
        }
        Command::Ca(command) => commands::ca(&command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // TOML's messages end in a newline of their own.
            eprintln!("error: {}", ssm_vcr::text::chain(&failure).trim_end());
            ExitCode::from(failure.exit_code())
        }
    }
}
