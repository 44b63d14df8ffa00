//! How `verify` prints what it found: text for a terminal, JSON for tools, JUnit XML for CI
//! test reports, Markdown for a pull request or an issue. A call that is the same is counted,
//! not listed. This module renders; `mod.rs` and `offline.rs` find.

use std::fmt::Write as _;

use super::{Checked, Outcome, Verified};
use crate::cassette::diff::report::{
    call_label, change_line, class_counts, hidden_note, json_report,
};
use crate::text::markdown_cell;

/// A report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for a terminal.
    Text,
    /// One JSON document.
    Json,
    /// JUnit XML: one test suite per cassette, one test case per recorded call.
    Junit,
    /// A pull-request comment.
    Markdown,
}

/// The report on every cassette verified.
pub fn render(format: Format, verified: &[Verified]) -> String {
    match format {
        Format::Text => verified.iter().map(text).collect::<Vec<_>>().join("\n"),
        Format::Markdown => verified.iter().map(markdown).collect::<Vec<_>>().join("\n"),
        Format::Junit => junit(verified),
        Format::Json => json_report(verified),
    }
}

fn is_drift(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Drift { .. })
}
fn is_same(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Same)
}
fn is_missing(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::MissingFixture { .. })
}
fn is_skipped(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Skipped { .. })
}
fn is_failed(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Failed { .. })
}

/// `1 drifted, 5 same, 1 missing fixture(s), 2 skipped, 0 failed`.
fn summary(verified: &Verified) -> String {
    let hidden: usize = verified.checked.iter().map(|c| c.hidden_values).sum();
    let mut text = format!(
        "{} drifted, {} same, {} missing fixture(s), {} skipped, {} failed",
        verified.count(is_drift),
        verified.count(is_same),
        verified.count(is_missing),
        verified.count(is_skipped),
        verified.count(is_failed),
    );
    text.push_str(&hidden_note(hidden));
    if verified.updated > 0 {
        let _ = write!(
            text,
            "; {} answer(s) updated in the cassette",
            verified.updated
        );
    }
    text
}

fn call(checked: &Checked) -> String {
    call_label(checked.index, &checked.operation, &checked.region)
}

/// The outcome of a call that is not the same, in a few words.
fn verdict(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Same => "same".to_owned(),
        Outcome::Drift { changes } => format!("drift: {}", class_counts(changes)),
        Outcome::MissingFixture { error } => {
            format!("missing fixture: AWS answers {error}, the recording reads something gone")
        }
        Outcome::Skipped { reason } => format!("skipped: {reason}"),
        Outcome::Failed { reason } => format!("failed: {reason}"),
    }
}

fn text(verified: &Verified) -> String {
    let mut out = format!("{}\n", verified.file);
    if let Some(note) = &verified.note {
        let _ = writeln!(out, "  note: {note}");
    }
    for checked in verified.checked.iter().filter(|c| !is_same(&c.outcome)) {
        let _ = writeln!(out, "  {}: {}", call(checked), verdict(&checked.outcome));
        if let Outcome::Drift { changes } = &checked.outcome {
            for change in changes {
                let _ = writeln!(out, "      {}", change_line(change));
            }
        }
    }
    let _ = writeln!(out, "summary: {}", summary(verified));
    out
}

fn markdown(verified: &Verified) -> String {
    let mut out = format!(
        "### `{}`\n\n{}\n\n",
        markdown_cell(&verified.file),
        summary(verified)
    );
    if let Some(note) = &verified.note {
        let _ = writeln!(out, "> {}\n", markdown_cell(note));
    }
    let listed: Vec<&Checked> = (verified.checked.iter())
        .filter(|c| !is_same(&c.outcome) && !is_skipped(&c.outcome))
        .collect();
    if listed.is_empty() {
        out.push_str("No drift.\n");
        return out;
    }
    out.push_str("| call | outcome | path | change |\n|---|---|---|---|\n");
    for checked in listed {
        let at = markdown_cell(&call(checked));
        match &checked.outcome {
            Outcome::Drift { changes } => {
                for change in changes {
                    let _ = writeln!(
                        out,
                        "| {at} | {} | `{}` | {} |",
                        change.class.as_str(),
                        markdown_cell(&change.path),
                        markdown_cell(&change.describe())
                    );
                }
            }
            other => {
                let _ = writeln!(out, "| {at} | {} | | |", markdown_cell(&verdict(other)));
            }
        }
    }
    out
}

/// XML text: the five characters XML reserves, escaped.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// JUnit XML as CI systems read it: a drift is a failure, a call that could not be checked an
/// error, a skipped call or a missing fixture a skipped test case.
fn junit(verified: &[Verified]) -> String {
    let total = |matches: fn(&Outcome) -> bool| -> usize {
        verified.iter().map(|v| v.count(matches)).sum()
    };
    let tests: usize = verified.iter().map(|v| v.checked.len()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"ssm-vcr verify\" tests=\"{tests}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        total(is_drift),
        total(is_failed),
        total(is_skipped) + total(is_missing),
    );
    for suite in verified {
        let file = xml(&suite.file);
        let _ = writeln!(
            out,
            "  <testsuite name=\"{file}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
            suite.checked.len(),
            suite.count(is_drift),
            suite.count(is_failed),
            suite.count(is_skipped) + suite.count(is_missing),
        );
        for checked in &suite.checked {
            let name = xml(&call(checked));
            let open = format!("    <testcase classname=\"{file}\" name=\"{name}\"");
            let message = xml(&verdict(&checked.outcome));
            match &checked.outcome {
                Outcome::Same => {
                    let _ = writeln!(out, "{open}/>");
                }
                Outcome::Drift { changes } => {
                    let lines: Vec<String> = (changes.iter())
                        .map(|c| format!("{} {}: {}", c.class.as_str(), c.path, c.describe()))
                        .collect();
                    let _ = writeln!(
                        out,
                        "{open}>\n      <failure message=\"{message}\">{}</failure>\n    </testcase>",
                        xml(&lines.join("\n"))
                    );
                }
                Outcome::Failed { .. } => {
                    let _ = writeln!(
                        out,
                        "{open}>\n      <error message=\"{message}\"/>\n    </testcase>"
                    );
                }
                Outcome::Skipped { .. } | Outcome::MissingFixture { .. } => {
                    let _ = writeln!(
                        out,
                        "{open}>\n      <skipped message=\"{message}\"/>\n    </testcase>"
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::diff::{Change, Class, Reason};

    fn verified() -> Vec<Verified> {
        let checked = |index, operation: &str, outcome| Checked {
            index,
            operation: operation.to_owned(),
            region: "us-east-1".to_owned(),
            outcome,
            hidden_values: 2,
        };
        vec![Verified {
            file: "cassettes/a&b.json".to_owned(),
            note: None,
            checked: vec![
                checked(0, "DescribeParameters", Outcome::Same),
                checked(
                    1,
                    "DescribeMaintenanceWindowTasks",
                    Outcome::Drift {
                        changes: vec![Change {
                            class: Class::Breaking,
                            reason: Reason::MemberRemoved,
                            path: "response.Tasks[0].TaskArn".to_owned(),
                            old: Some("\"<arn>\"".to_owned()),
                            new: None,
                        }],
                    },
                ),
                checked(
                    2,
                    "GetParameter",
                    Outcome::MissingFixture {
                        error: "ParameterNotFound".to_owned(),
                    },
                ),
                checked(
                    3,
                    "PutParameter",
                    Outcome::Skipped {
                        reason: "not a read-only operation (send it with --allow)".to_owned(),
                    },
                ),
            ],
            updated: 0,
        }]
    }

    #[test]
    fn text_lists_what_is_not_the_same_and_counts_the_rest() {
        assert_eq!(
            render(Format::Text, &verified()),
            "cassettes/a&b.json\n\
             \x20 #1 DescribeMaintenanceWindowTasks (us-east-1): drift: 1 breaking, 0 additive, 0 value\n\
             \x20     breaking  response.Tasks[0].TaskArn: member removed (was \"<arn>\")\n\
             \x20 #2 GetParameter (us-east-1): missing fixture: AWS answers ParameterNotFound, the recording reads something gone\n\
             \x20 #3 PutParameter (us-east-1): skipped: not a read-only operation (send it with --allow)\n\
             summary: 1 drifted, 1 same, 1 missing fixture(s), 1 skipped, 0 failed; 8 value change(s) hidden (--values shows them)\n"
        );
    }

    #[test]
    fn junit_makes_drift_a_failure_and_escapes_what_it_quotes() {
        assert_eq!(
            render(Format::Junit, &verified()),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <testsuites name=\"ssm-vcr verify\" tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"2\">\n\
             \x20 <testsuite name=\"cassettes/a&amp;b.json\" tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"2\">\n\
             \x20   <testcase classname=\"cassettes/a&amp;b.json\" name=\"#0 DescribeParameters (us-east-1)\"/>\n\
             \x20   <testcase classname=\"cassettes/a&amp;b.json\" name=\"#1 DescribeMaintenanceWindowTasks (us-east-1)\">\n\
             \x20     <failure message=\"drift: 1 breaking, 0 additive, 0 value\">breaking response.Tasks[0].TaskArn: member removed (was &quot;&lt;arn&gt;&quot;)</failure>\n\
             \x20   </testcase>\n\
             \x20   <testcase classname=\"cassettes/a&amp;b.json\" name=\"#2 GetParameter (us-east-1)\">\n\
             \x20     <skipped message=\"missing fixture: AWS answers ParameterNotFound, the recording reads something gone\"/>\n\
             \x20   </testcase>\n\
             \x20   <testcase classname=\"cassettes/a&amp;b.json\" name=\"#3 PutParameter (us-east-1)\">\n\
             \x20     <skipped message=\"skipped: not a read-only operation (send it with --allow)\"/>\n\
             \x20   </testcase>\n\
             \x20 </testsuite>\n\
             </testsuites>\n"
        );
    }

    #[test]
    fn markdown_tables_drift_and_missing_fixtures() {
        assert_eq!(
            render(Format::Markdown, &verified()),
            "### `cassettes/a&b.json`\n\
             \n\
             1 drifted, 1 same, 1 missing fixture(s), 1 skipped, 0 failed; 8 value change(s) hidden (--values shows them)\n\
             \n\
             | call | outcome | path | change |\n\
             |---|---|---|---|\n\
             | #1 DescribeMaintenanceWindowTasks (us-east-1) | breaking | `response.Tasks[0].TaskArn` | member removed (was \"<arn>\") |\n\
             | #2 GetParameter (us-east-1) | missing fixture: AWS answers ParameterNotFound, the recording reads something gone | | |\n"
        );
    }
}
