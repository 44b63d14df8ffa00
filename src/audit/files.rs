//! Where an audit log's records are: the live file, its rotated predecessors beside it as
//! `<file>.1`, `<file>.2`, … (1 is the oldest), and the part of each file that holds records.
//! Every reader of the log (verify, show, follow, the checkpoint tree at start-up) and the
//! writer's rotation name files through here; what the records say is theirs.

use std::fs;
use std::path::{Path, PathBuf};

/// The part of an audit file's bytes that holds records: a live (or crashed) preallocated log's
/// tail of zeros is not part of it. A record never holds a zero byte (JSON escapes control
/// characters), so the zeros cannot be mistaken for one.
pub fn written_part(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    &bytes[..end]
}

/// The files to check for `path`: its rotated predecessors, oldest first, then itself.
pub fn chain_of(path: &Path) -> Vec<PathBuf> {
    let mut files = rotated_files(path);
    files.push(path.to_owned());
    files
}

/// The files `audit verify` and `audit show` read: one file with its rotated predecessors, or
/// several files as given (the caller's order is the chain's order).
pub fn files_to_read(files: &[PathBuf]) -> Vec<PathBuf> {
    match files {
        [one] => chain_of(one),
        many => many.to_vec(),
    }
}

/// `<file>.<n>`: the name of the n-th rotated file (1 is the oldest).
pub fn rotated_name(path: &Path, number: u64) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{number}"));
    PathBuf::from(name)
}

/// Rotated siblings of `path`, oldest first.
pub fn rotated_files(path: &Path) -> Vec<PathBuf> {
    rotated(path).into_iter().map(|(_, file)| file).collect()
}

/// Rotated siblings of `path` with their numbers, oldest first.
pub(super) fn rotated(path: &Path) -> Vec<(u64, PathBuf)> {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let prefix = format!("{stem}.");
    let mut numbered: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let number = name.strip_prefix(&prefix)?.parse::<u64>().ok()?;
            Some((number, rotated_name(path, number)))
        })
        .collect();
    numbered.sort();
    numbered
}
