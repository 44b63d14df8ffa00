//! What each subcommand does, as functions returning a [`Failure`] that [`super::run`] maps to
//! an exit code. Start-up only: nothing here is on the request path.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use tracing::warn;

use super::{CaCommand, ServeArgs, VerifyArgs};
use crate::aws::is_region_name;
use crate::aws::model::{provenance, ssm};
use crate::cassette::check::{Formatted, RewriteError, check_file, format_file, redact_file};
use crate::cassette::diff::diff;
use crate::cassette::diff::report::{Compared, Format as DiffFormat, render};
use crate::cassette::file::{LoadError, read_cassette};
use crate::cassette::name::CassetteName;
use crate::cassette::redact::Redaction;
use crate::cassette::redact::scan;
use crate::cassette::revision::{RevisionError, cassette_at};
use crate::config::{Config, ConfigError, NO_DEFAULT_CASSETTE, ReportSettings, Settings};
use crate::durable;
use crate::hall::signing_upstream;
use crate::intercept::ca::{CaError, LocalCa};
use crate::logging;
use crate::proxy::Proxy;
use crate::report::Report;
use crate::start_error::StartError;
use crate::verify::offline::verify_offline;
use crate::verify::report::render as render_verified;
use crate::verify::{Options as VerifyOptions, Outcome, Pacer, Verified, verify_cassette};

/// Why a command failed, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
    /// The configuration is invalid (exit 2).
    #[error("invalid configuration")]
    Config(#[from] ConfigError),
    /// The proxy could not start: its configuration, default cassette, audit log, credentials
    /// or address is unusable (exit 2).
    #[error("cannot start")]
    Start(#[from] StartError),
    /// Start-up or serving failed at run time (exit 1).
    #[error("{0}")]
    Io(String, #[source] std::io::Error),
    /// A check found problems, already printed (exit 1).
    #[error("{0}")]
    CheckFailed(String),
    /// A cassette cannot be read (exit 2).
    #[error("cannot use the cassette")]
    Cassette(#[from] LoadError),
    /// A cassette cannot be read at a git revision (exit 2).
    #[error("cannot use the cassette's history")]
    Revision(#[from] RevisionError),
    /// The arguments do not go together (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Calls sent got no answer to compare (exit 2).
    #[error("{0}")]
    Unanswered(String),
    /// The local CA cannot be created, read or replaced (exit 1).
    #[error("the local CA is unusable")]
    Ca(#[from] CaError),
    /// The run report shows what `--fail-on-unused` or `--fail-on-miss` fails on (exit 3).
    #[error("the run failed: {0}")]
    RunFailed(String),
    /// `audit verify` found what each checkpoint finding's own exit code names, already
    /// printed one line each.
    #[error("{1}")]
    AuditFindings(u8, String),
}

impl Failure {
    /// The process exit code: 2 for configuration (and what it names: cassette, audit log,
    /// credentials), 3 for a run whose report fails it, 1 for everything else.
    pub(super) fn exit_code(&self) -> u8 {
        match self {
            // A taken port is the machine's state, not the configuration's.
            Self::Start(StartError::Listen { .. }) => 1,
            Self::Config(_) | Self::Start(_) => 2,
            Self::Cassette(_) | Self::Revision(_) | Self::Usage(_) | Self::Unanswered(_) => 2,
            Self::Io(..) | Self::CheckFailed(_) | Self::Ca(_) => 1,
            Self::RunFailed(_) => 3,
            Self::AuditFindings(code, _) => *code,
        }
    }
}

/// `ssm-vcr serve`: runs until SIGINT or SIGTERM, then shuts down gracefully.
pub(super) fn serve(flags: &ServeArgs) -> Result<(), Failure> {
    let settings = flags
        .apply_to(Config::load(flags.config.as_deref())?)
        .validate()?;
    // Held to the end of `serve`: dropping it writes out the lines still queued.
    let _log = logging::init(&settings.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Io("cannot start the runtime".to_owned(), e))?;
    let report_settings = settings.report.clone();
    let ready_file = flags.ready_file.as_deref();
    runtime.block_on(async {
        let proxy = Proxy::start(settings, None, None).await?;
        tracing::info!(model = %provenance(), "validating against the SSM API model");
        let address = proxy.addr();
        if !address.ip().is_loopback() {
            warn!(
                %address,
                "listening on a non-loopback address: anyone who can reach it can use this proxy"
            );
        }
        let shutdown = shutdown_signal().map_err(|e| {
            Failure::Io(
                "cannot install the SIGINT and SIGTERM handlers".to_owned(),
                e,
            )
        })?;
        if let Some(file) = ready_file {
            write_ready_file(file, &proxy.endpoint_url())?;
        }
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on {}", proxy.endpoint_url());
        let _ = stdout.flush();
        drop(stdout);
        let stopped = proxy.stop_on(shutdown).await;
        if let Some(file) = ready_file {
            // A script that waits for the file must not find this run's after it ended.
            let _ = std::fs::remove_file(file);
        }
        let report = stopped.map_err(|e| Failure::Io("serving failed".to_owned(), e))?;
        conclude(&report, &report_settings)
    })
}

/// Writes the endpoint URL to `file` whole (a temporary file renamed over it), so that a script
/// polling for it never reads half a line.
fn write_ready_file(file: &Path, url: &str) -> Result<(), Failure> {
    let failed = |e| Failure::Io(format!("cannot write the ready file {}", file.display()), e);
    let mut temporary = file.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    std::fs::write(&temporary, format!("{url}\n")).map_err(failed)?;
    std::fs::rename(&temporary, file).map_err(failed)
}

/// Prints the run report, writes it where asked, and fails the run when it says so.
fn conclude(report: &Report, settings: &ReportSettings) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{report}");
    let _ = stdout.flush();
    if let Some(file) = &settings.file {
        let mut json = serde_json::to_vec_pretty(report).expect("a report always serialises");
        json.push(b'\n');
        std::fs::write(file, json).map_err(|e| {
            Failure::Io(
                format!("cannot write the run report to {}", file.display()),
                e,
            )
        })?;
    }
    let failures = report.failures(settings.fail_on());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::RunFailed(failures.join("; ")))
    }
}

/// `ssm-vcr ca init|path|rotate`: creates, finds or replaces the local CA, then prints its
/// certificate's path.
pub(super) fn ca(command: &CaCommand) -> Result<(), Failure> {
    let args = match command {
        CaCommand::Init(args) | CaCommand::Path(args) | CaCommand::Rotate(args) => args,
    };
    let dir = match &args.ca_dir {
        Some(dir) => dir.clone(),
        None => Config::load(args.config.as_deref())?.forward_proxy.ca_dir(),
    };
    let ca = match command {
        CaCommand::Init(_) => LocalCa::open_or_create(&dir),
        CaCommand::Path(_) => LocalCa::open(&dir),
        CaCommand::Rotate(_) => LocalCa::rotate(&dir),
    }?;
    println!("{}", ca.cert_path().display());
    Ok(())
}

/// `ssm-vcr config check`: loads and validates, prints a summary.
pub(super) fn config_check(path: Option<PathBuf>) -> Result<(), Failure> {
    let settings = Config::load(path.as_deref())?.validate()?;
    let cassettes = &settings.cassettes;
    println!(
        "ok: mode {}, listen {}, cassettes in {} (default '{}')",
        settings.mode.as_str(),
        settings.listen,
        cassettes.dir.display(),
        (cassettes.default.as_ref()).map_or(NO_DEFAULT_CASSETTE, CassetteName::as_str)
    );
    Ok(())
}

/// `ssm-vcr cassette check`: checks the given files, or every cassette of the configured
/// folder, and prints one line per file and per problem.
pub(super) fn cassette_check(files: Vec<PathBuf>, config: Option<PathBuf>) -> Result<(), Failure> {
    let files = if files.is_empty() {
        configured_cassettes(config)?
    } else {
        files
    };
    if files.is_empty() {
        return Err(Failure::CheckFailed(
            "no cassette files to check".to_owned(),
        ));
    }
    println!("model: {}", provenance());
    let mut failed = 0;
    for file in &files {
        let report = check_file(file);
        if report.problems.is_empty() {
            println!(
                "ok: {} ({} interactions)",
                file.display(),
                report.interactions
            );
        } else {
            failed += 1;
            for problem in &report.problems {
                println!("error: {problem}");
            }
        }
    }
    if failed > 0 {
        return Err(Failure::CheckFailed(format!(
            "{failed} of {} cassette file(s) failed the check",
            files.len()
        )));
    }
    Ok(())
}

/// `ssm-vcr cassette redact`: rewrites each file with its sensitive values replaced.
pub(super) fn cassette_redact(files: &[PathBuf]) -> Result<(), Failure> {
    let redaction = Redaction::default();
    rewrite_each(files, "redacted", |file| {
        Ok(match redact_file(file, &redaction)? {
            0 => format!(
                "ok: {} holds no sensitive value in plain text",
                file.display()
            ),
            replaced => format!(
                "redacted: {} ({replaced} sensitive value(s) replaced by placeholders)",
                file.display()
            ),
        })
    })
}

/// Rewrites each file with `rewrite`, printing the line it returns or the error, and fails
/// naming how many files could not be `done` once all were tried.
fn rewrite_each(
    files: &[PathBuf],
    done: &str,
    mut rewrite: impl FnMut(&Path) -> Result<String, RewriteError>,
) -> Result<(), Failure> {
    let mut failed = 0;
    for file in files {
        match rewrite(file) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                failed += 1;
                println!("error: {}", crate::text::chain(&e));
            }
        }
    }
    if failed > 0 {
        return Err(Failure::CheckFailed(format!(
            "{failed} of {} cassette file(s) could not be {done}",
            files.len()
        )));
    }
    Ok(())
}

/// Every `*.json` in the configured cassette folder, sorted.
fn configured_cassettes(config: Option<PathBuf>) -> Result<Vec<PathBuf>, Failure> {
    let settings = Config::load(config.as_deref())?.validate()?;
    cassettes_in(&settings.cassettes.dir)
}

/// Every `*.json` in `dir`, sorted.
fn cassettes_in(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure::Io(format!("cannot list {}", dir.display()), e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    Ok(files)
}

/// `ssm-vcr cassette diff`: what changed between two recordings, classed by the model.
pub(super) fn cassette_diff(
    files: Vec<PathBuf>,
    git: Option<&str>,
    values: bool,
    format: DiffFormat,
    config: Option<PathBuf>,
) -> Result<(), Failure> {
    let compared = match git {
        None => {
            let [old, new] = <[PathBuf; 2]>::try_from(files).map_err(|files| {
                Failure::Usage(format!(
                    "cassette diff takes OLD NEW, or --git REV [FILE...]; {} file(s) given",
                    files.len()
                ))
            })?;
            let diff = diff(&read_cassette(&old)?, &read_cassette(&new)?, values);
            vec![Compared {
                old: old.display().to_string(),
                new: new.display().to_string(),
                diff,
            }]
        }
        Some(revision) => {
            let files = if files.is_empty() {
                configured_cassettes(config)?
            } else {
                files
            };
            let mut compared = Vec::with_capacity(files.len());
            for file in files {
                let now = read_cassette(&file)?;
                let then = cassette_at(revision, &file)?.unwrap_or_default();
                compared.push(Compared {
                    old: format!("{revision}:{}", file.display()),
                    new: file.display().to_string(),
                    diff: diff(&then, &now, values),
                });
            }
            compared
        }
    };
    print!("{}", render(format, &compared));
    let differing = compared.iter().filter(|c| !c.diff.is_empty()).count();
    if differing > 0 {
        return Err(Failure::CheckFailed(format!(
            "{differing} of {} cassette(s) differ",
            compared.len()
        )));
    }
    Ok(())
}

/// `ssm-vcr verify`: each cassette's read-only calls sent again, or read against the model.
pub(super) fn verify_cassettes(args: VerifyArgs) -> Result<(), Failure> {
    let mut config = Config::load(args.config.as_deref())?;
    if args.upstream.is_some() {
        config.upstream.clone_from(&args.upstream);
    }
    let settings = config.validate()?;
    let files = if args.files.is_empty() {
        cassettes_in(&settings.cassettes.dir)?
    } else {
        args.files
    };
    if let Some(region) = args.region.as_deref().filter(|r| !is_region_name(r)) {
        return Err(Failure::Usage(format!(
            "--region {region:?} is not a region name such as us-east-1"
        )));
    }
    let Some(pacer) = Pacer::new(args.rate) else {
        return Err(Failure::Usage(format!(
            "--rate {} is not a number of calls a second from {} up",
            args.rate,
            Pacer::SLOWEST
        )));
    };
    let verified = if args.offline {
        let mut verified = Vec::with_capacity(files.len());
        for file in &files {
            let cassette = read_cassette(file)?;
            verified.push(verify_offline(file.display().to_string(), &cassette));
        }
        verified
    } else {
        let options = VerifyOptions {
            allowed: args.allow,
            region: args.region,
            all_values: args.values,
            update: args.update,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::Io("cannot start the runtime".to_owned(), e))?;
        runtime.block_on(verify_online(&settings, &files, &options, pacer))?
    };
    print!("{}", render_verified(args.format, &verified));
    let count = |matches: fn(&Outcome) -> bool| -> usize {
        verified.iter().map(|v| v.count(matches)).sum()
    };
    let failed = count(|o| matches!(o, Outcome::Failed { .. }));
    if failed > 0 {
        return Err(Failure::Unanswered(format!(
            "{failed} call(s) could not be checked"
        )));
    }
    let drifted = count(|o| matches!(o, Outcome::Drift { .. }));
    if drifted > 0 {
        return Err(Failure::CheckFailed(format!(
            "{drifted} recorded call(s) drifted"
        )));
    }
    Ok(())
}

/// Sends each cassette's calls that may be sent, one cassette after the other, writing drifted
/// answers back when asked.
async fn verify_online(
    settings: &Settings,
    files: &[PathBuf],
    options: &VerifyOptions,
    mut pacer: Pacer,
) -> Result<Vec<Verified>, Failure> {
    let upstream = signing_upstream(&settings.forwarding, None, "verify").await?;
    let redaction = &settings.cassettes.redaction;
    let mut verified = Vec::with_capacity(files.len());
    for file in files {
        let mut cassette = read_cassette(file)?;
        let (checked, updated) =
            verify_cassette(&upstream, redaction, &mut cassette, options, &mut pacer).await;
        if updated > 0 {
            let bytes = cassette.to_json();
            // The same last look as recording, before anything is written.
            scan(&bytes, &upstream.secrets().await).map_err(|found| {
                Failure::CheckFailed(format!("{} was not updated: {found}", file.display()))
            })?;
            durable::replace(file, &bytes)
                .map_err(|e| Failure::Io(format!("cannot write {}", file.display()), e))?;
        }
        verified.push(Verified {
            file: file.display().to_string(),
            note: None,
            checked,
            updated,
        });
    }
    Ok(verified)
}

/// `ssm-vcr cassette fmt`: lays cassettes out as this build writes them.
pub(super) fn cassette_fmt(files: &[PathBuf], check: bool) -> Result<(), Failure> {
    let mut unformatted = 0;
    rewrite_each(files, "laid out", |file| {
        let Formatted {
            bodies_made_readable,
            changed,
        } = format_file(file, !check)?;
        if !changed {
            return Ok(format!(
                "ok: {} is laid out as this build writes it",
                file.display()
            ));
        }
        unformatted += 1;
        let done = if check { "would rewrite" } else { "rewrote" };
        let bodies = match bodies_made_readable {
            1 => "body",
            _ => "bodies",
        };
        Ok(format!(
            "{done}: {} ({bodies_made_readable} response {bodies} made readable JSON)",
            file.display()
        ))
    })?;
    if check && unformatted > 0 {
        return Err(Failure::CheckFailed(format!(
            "{unformatted} of {} cassette file(s) are not laid out as this build writes them; \
             run `ssm-vcr cassette fmt` on them",
            files.len()
        )));
    }
    Ok(())
}

/// `ssm-vcr model`: which SSM model this build carries.
pub(super) fn model() -> Result<(), Failure> {
    let model = ssm();
    println!(
        "SSM API model from {}: {} operations, {} shapes",
        provenance(),
        model.operations().count(),
        model.shapes().count()
    );
    Ok(())
}

/// Completes on SIGINT or SIGTERM. On Unix the handlers are installed when this is called,
/// not when the future is first polled, so a signal sent as soon as `listening on` is printed
/// already shuts the proxy down gracefully instead of killing it.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
