//! `ssm-vcr audit …`: verify, keygen, prove, reconcile, show and follow, as functions
//! returning a [`Failure`]. They read the log, its checkpoints and CloudTrail's files; none
//! writes to a log.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::AuditCommand;
use super::commands::Failure;
use crate::audit::anchor::{Anchored, prove, read_trusted, verify_anchored};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::checkpointer::hostname;
use crate::audit::files::files_to_read;
use crate::audit::keys::{KeyError, VerifierKey, keygen};
use crate::audit::reconcile::{ReconcileError, reconcile};
use crate::audit::show::{Filter, follow, table};

/// Runs one `audit` subcommand.
pub(super) fn run(command: AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::Verify {
            files,
            checkpoint,
            public_key,
        } => verify(&files, &checkpoint, &public_key),
        AuditCommand::Keygen { out, name } => generate(&out, name),
        AuditCommand::Prove {
            file,
            seq,
            checkpoint,
            public_key,
        } => inclusion(&file, seq, &checkpoint, &public_key),
        AuditCommand::Reconcile {
            file,
            cloudtrail,
            operation,
        } => reconcile_with_cloudtrail(&file, &cloudtrail, &operation),
        AuditCommand::Show { files, filter } => show(&files, &filter),
        AuditCommand::Follow { file, filter } => follow_live(&file, &filter),
    }
}

fn unusable_key(error: KeyError) -> Failure {
    Failure::Usage(crate::text::chain(&error))
}

/// `audit verify`: the chain, then what the checkpoints show, one line per finding.
fn verify(
    files: &[PathBuf],
    checkpoints: &[PathBuf],
    public_keys: &[PathBuf],
) -> Result<(), Failure> {
    let keys = (public_keys.iter())
        .map(|path| VerifierKey::load(path))
        .collect::<Result<Vec<_>, _>>()
        .map_err(unusable_key)?;
    let trusted = read_trusted(checkpoints).map_err(|(file, e)| {
        Failure::Io(format!("cannot read the checkpoint {}", file.display()), e)
    })?;
    let files = files_to_read(files);
    let Anchored {
        report,
        held,
        unchecked,
        findings,
    } = verify_anchored(&files, &keys, &trusted, SystemTime::now());
    if let Some(broken) = report.broken {
        println!("{}", report.summary);
        return Err(Failure::CheckFailed(format!(
            "the audit chain is broken at {broken}"
        )));
    }
    if findings.is_empty() {
        println!("ok: the audit chain holds");
    }
    for line in &held {
        println!("ok: {line}");
    }
    for line in &unchecked {
        println!("note: {line}");
    }
    for finding in &findings {
        println!("{finding}");
    }
    println!("{}", report.summary);
    match findings.first() {
        None => Ok(()),
        Some(worst) => Err(Failure::AuditFindings(
            worst.exit_code(),
            format!(
                "the audit log fails {} check(s) against its checkpoints",
                findings.len()
            ),
        )),
    }
}

/// `audit keygen`.
fn generate(out: &Path, name: Option<String>) -> Result<(), Failure> {
    let name = name.unwrap_or_else(|| format!("{}/ssm-vcr/audit", hostname()));
    let (verifier, public) = keygen(out, &name).map_err(unusable_key)?;
    println!(
        "wrote the signing key {} (readable by you only) and its verifier key {}:\n{verifier}\n\
         set `[audit] signing_key = \"{}\"`, and give {} to whoever verifies the log",
        out.display(),
        public.display(),
        out.display(),
        public.display()
    );
    Ok(())
}

/// `audit prove`: an inclusion proof as JSON.
fn inclusion(file: &Path, seq: u64, checkpoint: &Path, public_key: &Path) -> Result<(), Failure> {
    let key = VerifierKey::load(public_key).map_err(unusable_key)?;
    let note = std::fs::read_to_string(checkpoint).map_err(|e| {
        Failure::Io(
            format!("cannot read the checkpoint {}", checkpoint.display()),
            e,
        )
    })?;
    let checkpoint = Checkpoint::open(&note, &[key])
        .map_err(|e| Failure::CheckFailed(format!("{}: {e}", checkpoint.display())))?;
    let files = files_to_read(&[file.to_owned()]);
    let proof = prove(&files, seq, &checkpoint).map_err(Failure::CheckFailed)?;
    let json = serde_json::to_string_pretty(&proof).expect("a proof always serialises");
    println!("{json}");
    Ok(())
}

/// `audit reconcile`: one line per discrepancy, then what was compared.
fn reconcile_with_cloudtrail(
    file: &Path,
    trails: &[PathBuf],
    operations: &[String],
) -> Result<(), Failure> {
    for operation in operations {
        if !crate::aws::model::is_operation_name(operation) {
            return Err(Failure::Usage(format!(
                "--operation: '{operation}' is not an operation of the SSM model"
            )));
        }
    }
    let files = files_to_read(&[file.to_owned()]);
    let reconciled = reconcile(&files, trails, operations).map_err(|e| match e {
        ReconcileError::Trail { .. } => Failure::Usage(e.to_string()),
        ReconcileError::Broken(_) => Failure::CheckFailed(e.to_string()),
    })?;
    for discrepancy in &reconciled.discrepancies {
        println!("{discrepancy}");
    }
    if reconciled.discrepancies.is_empty() {
        println!("ok: the audit log and CloudTrail agree");
    }
    println!("{reconciled}");
    match reconciled.discrepancies.len() {
        0 => Ok(()),
        found => Err(Failure::CheckFailed(format!(
            "the audit log and CloudTrail disagree on {found} call(s)"
        ))),
    }
}

/// `audit show`: the audited calls as a table.
fn show(files: &[PathBuf], filter: &Filter) -> Result<(), Failure> {
    let files = files_to_read(files);
    let table = table(&files, filter).map_err(Failure::CheckFailed)?;
    print!("{table}");
    Ok(())
}

/// `audit follow`: the audited calls of a live log, then each new one as it is written; runs
/// until interrupted.
fn follow_live(live: &Path, filter: &Filter) -> Result<(), Failure> {
    follow(live, filter, &mut std::io::stdout().lock()).or_else(|e| match e.kind() {
        // Whoever read the rows has stopped (`| head`): so does the follower.
        std::io::ErrorKind::BrokenPipe => Ok(()),
        _ => Err(Failure::Io(
            format!("cannot follow the audit log {}", live.display()),
            e,
        )),
    })
}
