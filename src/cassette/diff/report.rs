//! How `cassette diff` prints what it found: text for a terminal, Markdown for a pull-request
//! comment, JSON for tools. This module renders; `mod.rs` compares.

use std::fmt::Write as _;

use serde::Serialize;

use super::{CassetteDiff, Change, Unpaired};
use crate::text::markdown_cell;

/// A report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for a terminal.
    Text,
    /// One JSON document.
    Json,
    /// A pull-request comment.
    Markdown,
}

/// One cassette compared: what each side is called, and what differs.
#[derive(Debug, Serialize)]
pub struct Compared {
    /// The old side: a file, or `REV:file`.
    pub old: String,
    /// The new side.
    pub new: String,
    /// What differs.
    #[serde(flatten)]
    pub diff: CassetteDiff,
}

/// The report on every cassette compared.
pub fn render(format: Format, compared: &[Compared]) -> String {
    match format {
        Format::Text => compared.iter().map(text).collect::<Vec<_>>().join("\n"),
        Format::Markdown => compared.iter().map(markdown).collect::<Vec<_>>().join("\n"),
        Format::Json => json_report(compared),
    }
}

/// `{"cassettes": [...]}`, pretty, one newline at the end: the JSON form of a report on
/// cassettes, `cassette diff`'s and `verify`'s.
pub(crate) fn json_report<T: Serialize>(cassettes: &[T]) -> String {
    #[derive(Serialize)]
    struct Report<'a, T> {
        cassettes: &'a [T],
    }
    let mut json =
        serde_json::to_string_pretty(&Report { cassettes }).expect("a report always serializes");
    json.push('\n');
    json
}

/// `1 breaking, 2 additive, 0 value; 1 added, 0 removed; 3 value change(s) hidden (…)`.
fn summary(diff: &CassetteDiff) -> String {
    let changes = diff.changed.iter().flat_map(|pair| &pair.changes);
    format!(
        "{}; {} added, {} removed{}",
        class_counts(changes),
        diff.added.len(),
        diff.removed.len(),
        hidden_note(diff.hidden_values),
    )
}

/// `1 breaking, 2 additive, 0 value`: the changes of each class, as every report counts them.
pub(crate) fn class_counts<'c>(changes: impl IntoIterator<Item = &'c Change>) -> String {
    let mut counts = [0; 3];
    for change in changes {
        // Classes are declared breaking, additive, value: their discriminants index the counts.
        counts[change.class as usize] += 1;
    }
    let [breaking, additive, value] = counts;
    format!("{breaking} breaking, {additive} additive, {value} value")
}

/// What a summary says of value changes counted but not shown; nothing when there are none.
pub(crate) fn hidden_note(hidden: usize) -> String {
    match hidden {
        0 => String::new(),
        _ => format!("; {hidden} value change(s) hidden (--values shows them)"),
    }
}

/// `#3 DescribeParameters (us-east-1)`: a recorded call, as every report names it.
pub(crate) fn call_label(index: usize, operation: &str, region: &str) -> String {
    format!("#{index} {operation} ({region})")
}

/// `breaking  response.Tasks[0].TaskArn: member removed (was "x")`: a change's line.
pub(crate) fn change_line(change: &Change) -> String {
    let class = change.class.as_str();
    format!("{class:<9} {}: {}", change.path, change.describe())
}

fn interaction(unpaired: &Unpaired) -> String {
    call_label(unpaired.index, &unpaired.operation, &unpaired.region)
}

fn text(compared: &Compared) -> String {
    let diff = &compared.diff;
    let mut out = format!("--- {}\n+++ {}\n", compared.old, compared.new);
    for removed in &diff.removed {
        let _ = writeln!(out, "- {}: removed", interaction(removed));
    }
    for added in &diff.added {
        let _ = writeln!(out, "+ {}: added", interaction(added));
    }
    for pair in &diff.changed {
        let _ = writeln!(
            out,
            "~ #{} {} ({}), #{} before:",
            pair.new_index, pair.operation, pair.region, pair.old_index
        );
        for change in &pair.changes {
            let _ = writeln!(out, "    {}", change_line(change));
        }
    }
    let verdict = if diff.is_empty() {
        "no differences"
    } else {
        "summary"
    };
    let _ = writeln!(out, "{verdict}: {}", summary(diff));
    out
}

fn markdown(compared: &Compared) -> String {
    let diff = &compared.diff;
    let mut out = format!(
        "### `{}` against `{}`\n\n",
        markdown_cell(&compared.new),
        markdown_cell(&compared.old)
    );
    let _ = writeln!(out, "{}\n", summary(diff));
    if diff.is_empty() {
        out.push_str("No differences.\n");
        return out;
    }
    out.push_str("| class | interaction | path | change |\n|---|---|---|---|\n");
    for removed in &diff.removed {
        let _ = writeln!(
            out,
            "| removed | {} | | |",
            markdown_cell(&interaction(removed))
        );
    }
    for added in &diff.added {
        let _ = writeln!(
            out,
            "| added | {} | | |",
            markdown_cell(&interaction(added))
        );
    }
    for pair in &diff.changed {
        let at = call_label(pair.new_index, &pair.operation, &pair.region);
        for change in &pair.changes {
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | {} |",
                change.class.as_str(),
                markdown_cell(&at),
                markdown_cell(&change.path),
                markdown_cell(&change.describe())
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::diff::{Change, Class, Pair, Reason};

    fn found() -> Vec<Compared> {
        let change = |class, reason, path: &str, old: Option<&str>, new: Option<&str>| Change {
            class,
            reason,
            path: path.to_owned(),
            old: old.map(str::to_owned),
            new: new.map(str::to_owned),
        };
        vec![Compared {
            old: "HEAD:cassettes/flow.json".to_owned(),
            new: "cassettes/flow.json".to_owned(),
            diff: CassetteDiff {
                removed: vec![Unpaired {
                    index: 7,
                    operation: "DeleteMaintenanceWindow".to_owned(),
                    region: "us-east-1".to_owned(),
                }],
                added: vec![],
                changed: vec![Pair {
                    operation: "DescribeParameters".to_owned(),
                    region: "us-east-1".to_owned(),
                    old_index: 2,
                    new_index: 2,
                    changes: vec![
                        change(
                            Class::Breaking,
                            Reason::MemberRemoved,
                            "response.Parameters[0].Tier",
                            Some("\"Standard\""),
                            None,
                        ),
                        change(
                            Class::Additive,
                            Reason::UnknownEnumValue,
                            "response.Parameters[0].Type",
                            Some("\"String\""),
                            Some("\"a|b\""),
                        ),
                    ],
                }],
                hidden_values: 3,
            },
        }]
    }

    #[test]
    fn markdown_is_a_table_a_pull_request_comment_can_hold() {
        assert_eq!(
            render(Format::Markdown, &found()),
            "### `cassettes/flow.json` against `HEAD:cassettes/flow.json`\n\
             \n\
             1 breaking, 1 additive, 0 value; 0 added, 1 removed; 3 value change(s) hidden (--values shows them)\n\
             \n\
             | class | interaction | path | change |\n\
             |---|---|---|---|\n\
             | removed | #7 DeleteMaintenanceWindow (us-east-1) | | |\n\
             | breaking | #2 DescribeParameters (us-east-1) | `response.Parameters[0].Tier` | member removed (was \"Standard\") |\n\
             | additive | #2 DescribeParameters (us-east-1) | `response.Parameters[0].Type` | value not in the model's enum: \"String\" → \"a\\|b\" |\n"
        );
    }

    #[test]
    fn text_names_each_side_and_ends_in_a_summary() {
        assert_eq!(
            render(Format::Text, &found()),
            "--- HEAD:cassettes/flow.json\n\
             +++ cassettes/flow.json\n\
             - #7 DeleteMaintenanceWindow (us-east-1): removed\n\
             ~ #2 DescribeParameters (us-east-1), #2 before:\n\
             \x20   breaking  response.Parameters[0].Tier: member removed (was \"Standard\")\n\
             \x20   additive  response.Parameters[0].Type: value not in the model's enum: \"String\" → \"a|b\"\n\
             summary: 1 breaking, 1 additive, 0 value; 0 added, 1 removed; 3 value change(s) hidden (--values shows them)\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(Format::Json, &found())).unwrap();
        assert_eq!(
            json["cassettes"][0]["changed"][0]["changes"][0]["class"],
            "breaking"
        );
        assert_eq!(json["cassettes"][0]["hidden_values"], 3);
    }
}
