//! The `ssm-vcr` command line: `serve`, `config check`, `cassette check`, `redact`, `fmt` and
//! `diff`, `verify`, `model`,
//! `audit verify`, `show` and `follow`, `ca init`, `path` and `rotate`.
//!
//! The binary is [`run`] and nothing else, so it is built on this library as any user's program
//! would be; `ssm-vcr --help` documents the flags. This module is public for that alone: a
//! program embedding the proxy uses [`crate::Proxy`].
//!
//! Flags stay as close to what the user typed as possible until `ServeArgs::apply_to` lays
//! them over `config.toml`; running them is `commands.rs`'s job. The command line reads the
//! configuration's types ([`Mode`], [`LogFormat`]) and never the other way round.

mod audit;
mod commands;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::text::chain;

use crate::audit::show::Filter;
use crate::cassette::diff::report::Format as DiffFormat;
use crate::config::{Config, LogFormat};
use crate::mode::Mode;
use crate::verify::report::Format as VerifyFormat;

/// Runs the command line as the `ssm-vcr` binary: parses the arguments, runs the command, and
/// returns the exit code (0; 1 for a failure at run time; 2 for a configuration, cassette,
/// audit log or credentials that cannot be used; 3 for a run whose report fails it).
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(flags) => commands::serve(&flags),
        Command::Config(ConfigCommand::Check { config }) => commands::config_check(config),
        Command::Cassette(CassetteCommand::Check { files, config }) => {
            commands::cassette_check(files, config)
        }
        Command::Cassette(CassetteCommand::Redact { files }) => commands::cassette_redact(&files),
        Command::Cassette(CassetteCommand::Fmt { files, check }) => {
            commands::cassette_fmt(&files, check)
        }
        Command::Cassette(CassetteCommand::Diff {
            files,
            git,
            values,
            format,
            config,
        }) => commands::cassette_diff(files, git.as_deref(), values, format, config),
        Command::Model => commands::model(),
        Command::Audit(command) => audit::run(command),
        Command::Verify(args) => commands::verify_cassettes(args),
        Command::Ca(command) => commands::ca(&command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // TOML's messages end in a newline of their own.
            eprintln!("error: {}", chain(&failure).trim_end());
            ExitCode::from(failure.exit_code())
        }
    }
}

/// Record/replay proxy for the AWS Systems Manager API.
#[derive(Debug, Parser)]
#[command(name = "ssm-vcr", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the proxy until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Check configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check cassette files, or redact or lay out older ones.
    #[command(subcommand)]
    Cassette(CassetteCommand),
    /// Print which SSM API model this build carries (botocore version, digest, counts).
    Model,
    /// Verify and read the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Send cassettes' read-only calls to the upstream again and report how the live answers
    /// differ from the recorded ones; or, with --offline, check recordings against this build's
    /// model.
    ///
    /// Only Describe*, Get* and List* calls are sent (less those returning credentials or meant
    /// for the agent), signed as record mode signs them. Exit 0 when nothing drifted (missing
    /// fixtures and skipped calls are listed, not failed), 1 when something did, 2 when a cassette,
    /// the configuration or the credentials cannot be used or a call got no answer.
    Verify(VerifyArgs),
    /// The local CA that the forward-proxy mode (HTTPS_PROXY) signs SSM hosts' certificates with.
    #[command(subcommand)]
    Ca(CaCommand),
}

/// `ssm-vcr ca …`: each prints the CA certificate's path, for `AWS_CA_BUNDLE`.
#[derive(Debug, Subcommand)]
pub(crate) enum CaCommand {
    /// Create the CA if there is none yet (safe to run again): `AWS_CA_BUNDLE="$(ssm-vcr ca init)"`.
    Init(CaArgs),
    /// Print where the CA certificate is (it must exist).
    Path(CaArgs),
    /// Replace the CA with a new one; clients must trust the new certificate.
    Rotate(CaArgs),
}

/// Where the CA is.
#[derive(Debug, Args)]
pub(crate) struct CaArgs {
    /// Configuration file naming `forward_proxy.ca_dir`.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The CA folder, overriding the configuration (default $XDG_DATA_HOME/ssm-vcr/ca, else
    /// ~/.local/share/ssm-vcr/ca).
    #[arg(long, value_name = "DIR")]
    pub(crate) ca_dir: Option<PathBuf>,
}

/// `ssm-vcr serve`: every setting of `config.toml` can be overridden here.
#[derive(Debug, Default, Args)]
pub(crate) struct ServeArgs {
    /// Configuration file [default: ./config.toml when present, else built-in defaults].
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Where answers come from.
    #[arg(long, value_enum)]
    pub(crate) mode: Option<Mode>,
    /// Address to listen on; port 0 picks a free port (printed once ready).
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) listen: Option<SocketAddr>,
    /// Allow a non-loopback --listen address (anyone who reaches it can use the proxy).
    #[arg(long)]
    pub(crate) allow_remote: bool,
    /// Cassette folder.
    #[arg(long, value_name = "DIR")]
    pub(crate) cassette_dir: Option<PathBuf>,
    /// Cassette used for requests to `/`; `none` for none (each call selects its own with
    /// `/cassette/<name>/`).
    #[arg(long, value_name = "NAME")]
    pub(crate) cassette: Option<String>,
    /// Upstream endpoint URL (never contacted in replay mode).
    #[arg(long, value_name = "URL")]
    pub(crate) upstream: Option<String>,
    /// PEM file of extra CA certificates to trust for the upstream (verification stays on).
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Region for requests without a SigV4 credential scope.
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Repeat the last recorded answer once a request's answers are used up.
    #[arg(long)]
    pub(crate) repeat_last: bool,
    /// Replay every recorded poll of a waiter's operation, instead of answering a poll with the
    /// answer that ends the wait (replay.fast_forward_waiters = false).
    #[arg(long)]
    pub(crate) no_fast_forward_waiters: bool,
    /// Bind a placeholder of a value only AWS knew to an environment variable, e.g.
    /// REDACTED-3=env:DB_PASSWORD (or <cassette>/REDACTED-3=...); may be repeated.
    #[arg(long, value_name = "PLACEHOLDER=env:VARIABLE", value_parser = binding)]
    pub(crate) bind_secret: Vec<(String, String)>,
    /// Largest accepted request body, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_body_bytes: Option<usize>,
    /// Audit log file (turns auditing on).
    #[arg(long, value_name = "FILE", conflicts_with = "no_audit")]
    pub(crate) audit_log: Option<PathBuf>,
    /// Do not audit.
    #[arg(long)]
    pub(crate) no_audit: bool,
    /// Sign checkpoints of the audit log with this key (`ssm-vcr audit keygen`).
    #[arg(long, value_name = "FILE", conflicts_with = "no_audit")]
    pub(crate) audit_signing_key: Option<PathBuf>,
    /// Operational log format.
    #[arg(long, value_enum)]
    pub(crate) log_format: Option<LogFormat>,
    /// Also write the run report, printed at shutdown, to this file as JSON.
    #[arg(long, value_name = "FILE")]
    pub(crate) report: Option<PathBuf>,
    /// Exit with status 3 if a cassette that calls reached holds recordings no call used.
    #[arg(long)]
    pub(crate) fail_on_unused: bool,
    /// Exit with status 3 if a call found no recorded answer.
    #[arg(long)]
    pub(crate) fail_on_miss: bool,
    /// Once listening, write the endpoint URL (`http://127.0.0.1:PORT`) to this file, whole,
    /// for scripts that start the proxy on port 0; removed again at exit.
    #[arg(long, value_name = "FILE")]
    pub(crate) ready_file: Option<PathBuf>,
    /// The local CA's folder for the forward-proxy mode (default $XDG_DATA_HOME/ssm-vcr/ca, else
    /// ~/.local/share/ssm-vcr/ca).
    #[arg(long, value_name = "DIR")]
    pub(crate) ca_dir: Option<PathBuf>,
    /// Forward only calls made through the forward proxy, with their clients' own signatures:
    /// the proxy needs no AWS credentials.
    #[arg(long)]
    pub(crate) forward_proxy_only: bool,
}

impl ServeArgs {
    /// Lays these flags over `config` (read from the file): each flag given wins.
    pub(crate) fn apply_to(&self, mut config: Config) -> Config {
        let flags = self;
        if let Some(mode) = flags.mode {
            config.mode = mode;
        }
        if let Some(listen) = flags.listen {
            config.listen = listen;
        }
        if flags.allow_remote {
            config.allow_remote = true;
        }
        if let Some(region) = &flags.region {
            config.region.clone_from(region);
        }
        if let Some(upstream) = &flags.upstream {
            config.upstream = Some(upstream.clone());
        }
        if let Some(ca) = &flags.ca_file {
            config.forward.ca_file = Some(ca.clone());
        }
        if let Some(dir) = &flags.cassette_dir {
            config.cassettes.dir.clone_from(dir);
        }
        if let Some(name) = &flags.cassette {
            config.cassettes.default.clone_from(name);
        }
        if flags.repeat_last {
            config.cassettes.repeat_last = true;
        }
        if flags.no_fast_forward_waiters {
            config.replay.fast_forward_waiters = false;
        }
        for (placeholder, source) in &flags.bind_secret {
            (config.replay.secrets).insert(placeholder.clone(), source.clone());
        }
        if let Some(limit) = flags.max_body_bytes {
            config.limits.max_body_bytes = limit;
        }
        if let Some(file) = &flags.audit_log {
            config.audit.file.clone_from(file);
            config.audit.enabled = true;
        }
        if let Some(key) = &flags.audit_signing_key {
            config.audit.signing_key = Some(key.clone());
        }
        if flags.no_audit {
            config.audit.enabled = false;
        }
        if let Some(dir) = &flags.ca_dir {
            config.forward_proxy.ca_dir = Some(dir.clone());
        }
        if flags.forward_proxy_only {
            config.forward_proxy.only = true;
        }
        if let Some(file) = &flags.report {
            config.report.file = Some(file.clone());
        }
        if flags.fail_on_unused {
            config.report.fail_on_unused = true;
        }
        if flags.fail_on_miss {
            config.report.fail_on_miss = true;
        }
        if let Some(format) = flags.log_format {
            config.log.format = format;
        }
        config
    }
}

/// `ssm-vcr verify`'s flags.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Cassette files [default: every *.json in the configured cassette folder].
    pub(crate) files: Vec<PathBuf>,
    /// Check recordings against this build's model; send nothing.
    #[arg(long, conflicts_with_all = ["update", "allow", "upstream", "region", "rate"])]
    pub(crate) offline: bool,
    /// Write drifted answers into the cassettes, through the same redaction as recording.
    #[arg(long)]
    pub(crate) update: bool,
    /// Send this operation although it is not read-only (repeatable).
    #[arg(long, value_name = "OPERATION")]
    pub(crate) allow: Vec<String>,
    /// Calls a second at most.
    #[arg(long, value_name = "N", default_value_t = 5.0)]
    pub(crate) rate: f64,
    /// Send to this endpoint instead of https://ssm.<region>.amazonaws.com.
    #[arg(long, value_name = "URL")]
    pub(crate) upstream: Option<String>,
    /// Send every call to this region instead of the recorded one.
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Show every value change.
    #[arg(long)]
    pub(crate) values: bool,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: VerifyFormat,
    /// Configuration file: cassette folder, redaction, [forward] settings.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// `ssm-vcr config …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Load and validate a configuration, then exit (0 when valid).
    Check {
        /// Configuration file [default: ./config.toml when present, else built-in defaults].
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// `ssm-vcr cassette …`.
#[derive(Debug, Subcommand)]
pub(crate) enum CassetteCommand {
    /// Check cassette format and recorded requests against the model (0 when all pass).
    Check {
        /// Cassette files [default: every *.json in the configured cassette folder].
        files: Vec<PathBuf>,
        /// Configuration file naming the cassette folder.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Rewrite cassettes with every sensitive value replaced by a placeholder.
    ///
    /// For recordings made before the proxy redacted the model's sensitive values; `cassette
    /// check` names the files that need it. Each file is replaced atomically.
    Redact {
        /// Cassette files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Rewrite cassettes in the layout this build records: response bodies that are compact
    /// JSON become readable JSON, one member per line in AWS's order.
    ///
    /// What each interaction replays stays the same to the byte. Each changed file is
    /// replaced atomically; with `--check`, nothing is written and the exit code is 1 when a
    /// file would change.
    Fmt {
        /// Cassette files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write nothing; name the files that are not laid out as this build writes them.
        #[arg(long)]
        check: bool,
    },
    /// Compare two recordings of a flow: interactions added and removed, and the JSON paths
    /// where paired answers differ, each classed by the model as breaking, additive or value.
    ///
    /// Exit 0 when nothing is reported, 1 when something is, 2 when a cassette or revision
    /// cannot be read. Value changes (timestamps, ids) are counted but hidden unless they are
    /// an enum's or what a waiter reads; `--values` shows them all.
    Diff {
        /// OLD NEW; with `--git`, the cassette files to compare with the revision [default:
        /// every *.json in the configured cassette folder].
        files: Vec<PathBuf>,
        /// Compare each file as it is now with its version at this git revision.
        #[arg(long, value_name = "REV")]
        git: Option<String>,
        /// Show every value change.
        #[arg(long)]
        values: bool,
        /// Report format.
        #[arg(long, value_enum, default_value = "text")]
        format: DiffFormat,
        /// Configuration file naming the cassette folder (with `--git` and no files).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// `ssm-vcr audit …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify the hash chain and, with a public key, the log's signed checkpoints and those
    /// kept elsewhere.
    ///
    /// One file is checked together with its rotated predecessors (`FILE.1`, `FILE.2`, …);
    /// several files are checked as one chain in the order given. Exit 0 when everything
    /// holds; 1 when the chain breaks; 2 when a checkpoint is signed by another key; 3 when
    /// the log is shorter than a checkpoint (truncated); 4 when its root differs (replaced or
    /// forked); 5 when checkpoints stopped while the proxy ran (gap); 6 when a signature does
    /// not verify (forged). Each finding is one line; the exit code is the worst's.
    Verify {
        /// Audit files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A checkpoint kept away from the log (a copy of `<log>.checkpoint`, or of the
        /// `audit checkpoint` log line), or a folder of them; repeatable.
        #[arg(long, value_name = "FILE|DIR", requires = "public_key")]
        checkpoint: Vec<PathBuf>,
        /// A verifier key (`audit keygen`'s `FILE.pub`) that checkpoint signatures are checked
        /// with; repeatable, across a key rotation (each checkpoint names its key).
        #[arg(long, value_name = "FILE")]
        public_key: Vec<PathBuf>,
    },
    /// Write a new Ed25519 key that signs checkpoints (`[audit] signing_key`), readable by its
    /// owner only, and its verifier key beside it as `FILE.pub`.
    Keygen {
        /// Where to write the secret key; an existing file is never overwritten.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The key's name, on every signature [default: `<this host>/ssm-vcr/audit`].
        #[arg(long)]
        name: Option<String>,
    },
    /// Print the RFC 6962 inclusion proof of one record in a checkpoint's tree, as JSON that
    /// any RFC 6962 verifier checks against the checkpoint's root.
    Prove {
        /// The audit log (read with its rotated predecessors).
        file: PathBuf,
        /// The record's sequence number.
        #[arg(long)]
        seq: u64,
        /// The checkpoint whose tree holds the record.
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        /// The verifier key the checkpoint's signature is checked with.
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
    },
    /// Reconcile the log with CloudTrail: calls AWS saw that bypassed the proxy, forwarded
    /// calls CloudTrail lacks, and calls whose access key or parameters differ.
    ///
    /// Reads CloudTrail log files as delivered to S3 (`{"Records": [...]}`, gzipped or not;
    /// folders are read whole), joins on `requestID`, and exits 1 when anything is found.
    Reconcile {
        /// The audit log (read with its rotated predecessors).
        file: PathBuf,
        /// CloudTrail log files, or folders of them; repeatable.
        #[arg(long, value_name = "FILE|DIR", required = true)]
        cloudtrail: Vec<PathBuf>,
        /// An audited operation to reconcile; repeatable [default: those the log audits, and
        /// DeregisterTaskFromMaintenanceWindow].
        #[arg(long, value_name = "NAME")]
        operation: Vec<String>,
    },
    /// Print the audited calls as a table.
    Show {
        /// Audit files (one file includes its rotated predecessors).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Which audited calls.
        #[command(flatten)]
        filter: Filter,
    },
    /// Print the audited calls of a live log, then each new one as it is written, like
    /// `tail -f` (which cannot follow a preallocated log). Runs until interrupted.
    Follow {
        /// The live audit file (its rotated predecessors are printed first, and the file is
        /// followed across rotations).
        file: PathBuf,
        /// Which audited calls.
        #[command(flatten)]
        filter: Filter,
    },
}

/// A `--bind-secret` value: `PLACEHOLDER=SOURCE`, checked in full with the configuration.
fn binding(text: &str) -> Result<(String, String), String> {
    let (placeholder, source) = text
        .split_once('=')
        .ok_or("expected PLACEHOLDER=env:VARIABLE, e.g. REDACTED-3=env:DB_PASSWORD")?;
    Ok((placeholder.to_owned(), source.to_owned()))
}
