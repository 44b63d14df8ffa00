//! botocore's waiters for SSM (`model/ssm/waiters-2.json`, vendored with the service model):
//! which operation each waiter polls, and the acceptors that tell, of each answer, whether a
//! waiting client polls again or stops.
//!
//! An answer is judged as botocore judges it: the first acceptor that matches decides (`retry`
//! polls again; `success` and `failure` end the wait); when none matches, an error answer ends
//! the wait and any other polls again. Acceptor arguments are JMESPath; the subset SSM's
//! waiters use (member names, `.`, and the `[]` flatten) is read here, and a waiter that needs
//! more is left out, so its polls are never skipped. This module judges one answer; replaying
//! a queue of them is `cassette/replay.rs`'s job.

use std::fmt;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::json::Json;

/// The vendored waiters file, exactly as botocore ships it.
const WAITERS_JSON: &str = include_str!("../../../model/ssm/waiters-2.json");

static WAITERS: LazyLock<Vec<Waiter>> = LazyLock::new(|| {
    let file: File = serde_json::from_str(WAITERS_JSON).expect("the vendored waiters parse");
    (file.waiters.into_iter())
        .filter_map(|(name, waiter)| Waiter::new(name, waiter).ok())
        .collect()
});

/// Every waiter of the vendored file that this module can read, by name.
pub fn waiters() -> &'static [Waiter] {
    &WAITERS
}

/// The waiters that poll `operation`.
pub fn waiters_of(operation: &str) -> impl Iterator<Item = &'static Waiter> + use<'_> {
    waiters().iter().filter(move |w| w.operation == operation)
}

/// One waiter: an operation polled until an acceptor ends the wait.
#[derive(Debug)]
pub struct Waiter {
    /// Read by the pinning test only.
    #[cfg_attr(not(test), allow(dead_code))]
    name: String,
    operation: String,
    acceptors: Vec<Acceptor>,
}

/// The output members `operation`'s waiters read, as JMESPath (`Reservations[].Instances[].State`),
/// each once.
pub fn paths_read(operation: &str) -> Vec<String> {
    let mut paths: Vec<String> = (waiters_of(operation).flat_map(|w| &w.acceptors))
        .filter_map(|acceptor| match &acceptor.matcher {
            Matcher::Path(path, _) | Matcher::PathAll(path, _) | Matcher::PathAny(path, _) => {
                Some(path.to_string())
            }
            Matcher::Status(_) | Matcher::Error(_) => None,
        })
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// What an answer means to a client waiting on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// The client sleeps and calls again.
    Again,
    /// The wait is over, successfully or not.
    Ends,
}

/// An answer as a waiter reads it.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The HTTP status.
    pub status: u16,
    /// The AWS error shape of an error answer.
    pub error_type: Option<&'a str>,
    /// The body, when it is JSON.
    pub body: Option<&'a Json<'a>>,
}

impl Waiter {
    /// The waiter's name, as botocore's `get_waiter` takes it.
    #[cfg(test)]
    fn name(&self) -> &str {
        &self.name
    }

    /// The operation it polls.
    #[cfg(test)]
    fn operation(&self) -> &str {
        &self.operation
    }

    /// Whether a client running this waiter calls again after `answer`.
    pub fn judge(&self, answer: &Answer<'_>) -> Poll {
        match self.acceptors.iter().find(|a| a.matcher.matches(answer)) {
            Some(Acceptor {
                state: State::Retry,
                ..
            }) => Poll::Again,
            Some(_) => Poll::Ends,
            None if answer.status >= 400 => Poll::Ends,
            None => Poll::Again,
        }
    }

    fn new(name: String, waiter: FileWaiter) -> Result<Self, String> {
        let acceptors = (waiter.acceptors.into_iter())
            .map(Acceptor::new)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            name,
            operation: waiter.operation,
            acceptors,
        })
    }
}

#[derive(Debug)]
struct Acceptor {
    state: State,
    matcher: Matcher,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum State {
    Retry,
    Success,
    Failure,
}

#[derive(Debug)]
enum Matcher {
    /// The argument's value equals `expected`.
    Path(Path, Json<'static>),
    /// Every element of the argument's (non-empty) list equals `expected`.
    PathAll(Path, Json<'static>),
    /// Some element of the argument's list equals `expected`.
    PathAny(Path, Json<'static>),
    /// The HTTP status equals `expected`.
    Status(u16),
    /// The error shape equals the code; `true` is any error, `false` none.
    Error(Json<'static>),
}

impl Acceptor {
    fn new(acceptor: FileAcceptor) -> Result<Self, String> {
        let path = || Path::parse(acceptor.argument.as_deref().unwrap_or_default());
        let expected = acceptor.expected;
        let matcher = match acceptor.matcher.as_str() {
            "path" => Matcher::Path(path()?, expected),
            "pathAll" => Matcher::PathAll(path()?, expected),
            "pathAny" => Matcher::PathAny(path()?, expected),
            "status" => Matcher::Status(
                (match &expected {
                    Json::Number(n) => n.as_u64().and_then(|s| u16::try_from(s).ok()),
                    _ => None,
                })
                .ok_or("a status acceptor expects a status code")?,
            ),
            "error" => Matcher::Error(expected),
            other => return Err(format!("matcher '{other}' is not one botocore has")),
        };
        Ok(Self {
            state: acceptor.state,
            matcher,
        })
    }
}

impl Matcher {
    fn matches(&self, answer: &Answer<'_>) -> bool {
        // Path matchers read a successful answer's output only, as botocore's do.
        let output = answer.body.filter(|_| answer.status < 400);
        match self {
            Self::Path(path, expected) => output.is_some_and(|body| path.eval(body) == *expected),
            Self::PathAll(path, expected) => output.is_some_and(|body| match path.eval(body) {
                Json::Array(items) => !items.is_empty() && items.iter().all(|v| v == expected),
                _ => false,
            }),
            Self::PathAny(path, expected) => output.is_some_and(|body| match path.eval(body) {
                Json::Array(items) => items.iter().any(|v| v == expected),
                _ => false,
            }),
            Self::Status(status) => answer.status == *status,
            Self::Error(Json::Bool(any)) => answer.error_type.is_some() == *any,
            Self::Error(code) => answer.error_type.is_some_and(|e| code.as_str() == Some(e)),
        }
    }
}

/// A JMESPath of member names and `[]` flattens (`Status`, `Reservations[].Instances[].State`).
#[derive(Debug)]
struct Path(Vec<Step>);

#[derive(Debug)]
enum Step {
    Member(String),
    Flatten,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, step) in self.0.iter().enumerate() {
            match step {
                Step::Member(name) if index == 0 => f.write_str(name)?,
                Step::Member(name) => write!(f, ".{name}")?,
                Step::Flatten => f.write_str("[]")?,
            }
        }
        Ok(())
    }
}

impl Path {
    fn parse(expression: &str) -> Result<Self, String> {
        let mut steps = Vec::new();
        for part in expression.split('.') {
            let name = part.trim_end_matches("[]");
            let identifier = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !identifier {
                return Err(format!("'{expression}' is beyond the JMESPath read here"));
            }
            steps.push(Step::Member(name.to_owned()));
            steps.extend((0..(part.len() - name.len()) / 2).map(|_| Step::Flatten));
        }
        Ok(Self(steps))
    }

    /// The expression's value in `body`; `null` where a member is missing, as in JMESPath.
    fn eval<'a>(&self, body: &Json<'a>) -> Json<'a> {
        let mut current = body.clone();
        let mut projected = false;
        for step in &self.0 {
            current = match (step, current) {
                (Step::Member(name), Json::Array(items)) if projected => Json::Array(
                    (items.iter())
                        .filter_map(|item| item.get(name).filter(|v| **v != Json::Null).cloned())
                        .collect(),
                ),
                (Step::Member(name), value) => value.get(name).cloned().unwrap_or(Json::Null),
                (Step::Flatten, Json::Array(items)) => {
                    projected = true;
                    let mut flat = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            Json::Array(inner) => flat.extend(inner),
                            Json::Null => {}
                            other => flat.push(other),
                        }
                    }
                    Json::Array(flat)
                }
                (Step::Flatten, _) => Json::Null,
            };
        }
        current
    }
}

#[derive(Deserialize)]
struct File {
    waiters: std::collections::BTreeMap<String, FileWaiter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileWaiter {
    operation: String,
    acceptors: Vec<FileAcceptor>,
}

#[derive(Deserialize)]
struct FileAcceptor {
    state: State,
    matcher: String,
    #[serde(default)]
    argument: Option<String>,
    #[serde(deserialize_with = "crate::json::owned")]
    expected: Json<'static>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn command_executed() -> &'static Waiter {
        let mut found = waiters_of("GetCommandInvocation");
        let waiter = found.next().unwrap();
        assert!(found.next().is_none());
        waiter
    }

    #[test]
    fn the_paths_a_waiter_reads_are_listed_as_jmespath() {
        assert_eq!(paths_read("GetCommandInvocation"), ["Status"]);
        assert!(paths_read("DescribeParameters").is_empty());
    }

    #[test]
    fn every_vendored_waiter_is_read_and_polls_a_model_operation() {
        // Pinned with the service model: a new botocore release that adds a waiter this
        // module cannot read fails here rather than losing its fast-forward silently.
        let file: File = serde_json::from_str(WAITERS_JSON).unwrap();
        assert_eq!(waiters().len(), file.waiters.len());
        let names: Vec<&str> = waiters().iter().map(Waiter::name).collect();
        assert_eq!(names, ["CommandExecuted"]);
        for waiter in waiters() {
            assert!(super::super::Operation::named(waiter.operation()).is_some());
        }
    }

    mod judge {
        use super::*;

        fn ok<'a>(body: &'a Json<'a>) -> Answer<'a> {
            Answer {
                status: 200,
                error_type: None,
                body: Some(body),
            }
        }

        #[test]
        fn command_executed_polls_past_in_progress_and_stops_at_an_end_state() {
            let waiter = command_executed();
            for (status, poll) in [
                ("Pending", Poll::Again),
                ("InProgress", Poll::Again),
                ("Delayed", Poll::Again),
                ("Success", Poll::Ends),
                ("Failed", Poll::Ends),
                ("Cancelling", Poll::Ends),
            ] {
                let body = Json::from(&json!({"CommandId": "c", "Status": status}));
                assert_eq!(waiter.judge(&ok(&body)), poll, "{status}");
            }
        }

        #[test]
        fn a_listed_error_polls_again_and_any_other_error_ends_the_wait() {
            let waiter = command_executed();
            let error = |shape| Answer {
                status: 400,
                error_type: Some(shape),
                body: None,
            };
            assert_eq!(waiter.judge(&error("InvocationDoesNotExist")), Poll::Again);
            assert_eq!(waiter.judge(&error("ThrottlingException")), Poll::Ends);
        }

        #[test]
        fn an_answer_no_acceptor_names_polls_again() {
            let body = Json::from(&json!({"Status": "SomethingNew"}));
            assert_eq!(command_executed().judge(&ok(&body)), Poll::Again);
        }
    }

    mod path {
        use super::*;

        #[test]
        fn members_and_flattens_project_as_jmespath_does() {
            let body =
                Json::from(&json!({"R": [{"I": [{"S": "a"}, {"S": "b"}]}, {"I": [{"T": 1}]}]}));
            let path = Path::parse("R[].I[].S").unwrap();
            assert_eq!(path.eval(&body), Json::from(&json!(["a", "b"])));
            assert_eq!(Path::parse("Missing.X").unwrap().eval(&body), Json::Null);
        }

        #[test]
        fn expressions_beyond_the_subset_are_refused() {
            for expression in ["length(R)", "R[0]", "R[?S=='a']", "", "R[]]"] {
                assert!(Path::parse(expression).is_err(), "{expression}");
            }
        }
    }
}
