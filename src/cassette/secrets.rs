//! The client's own secrets in replay: placeholders bound to what a live client sends, and
//! given back in the answers that carry them.
//!
//! A cassette holds `REDACTED-n` wherever a sensitive value was. When a live request matches a
//! recorded one, each placeholder in the recorded request's sensitive members is bound to the
//! value the client sent at the same place ([`Bindings::bind`]); an answer that carries a bound
//! placeholder in a sensitive member is sent with the client's value in its place, JSON-escaped
//! ([`Bindings::reveal`]). A value only AWS knew can be bound from the environment instead.
//! Bindings live in memory for one cassette's run: a rewind drops the client's, and nothing
//! here writes, logs or prints a value ([`Secret`]'s `Debug` shows none). Placeholders never
//! bound are served as they are, and counted, as are clients that sent two values where the
//! recording had one. This module does not choose which interaction answers (`replay.rs`).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::ops::Range;
use std::sync::Mutex;

use bytes::Bytes;

use super::placeholder::{PLACEHOLDER_PREFIX, placeholder, placeholder_number};
use crate::aws::model::{Operation, walk};
use crate::json::{Json, Step};
use crate::report::{SecretConflict, SecretsReport};

/// How many conflicts a cassette's report lists; the rest are only counted in the log.
const MAX_LISTED_CONFLICTS: usize = 20;

/// A sensitive value, held in memory only; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<str>);

impl Secret {
    /// Holds `value`.
    pub fn new(value: impl Into<Box<str>>) -> Self {
        Self(value.into())
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Placeholders bound from environment variables by configuration, for a value only AWS knew
/// (put by someone else): each for every cassette, or for one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvBindings(Vec<EnvBinding>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct EnvBinding {
    cassette: Option<String>,
    number: u64,
    value: Secret,
}

impl EnvBindings {
    /// Reads `placeholder = "env:VARIABLE"` entries, the placeholder as `REDACTED-3` (every
    /// cassette) or `<cassette>/REDACTED-3`; `lookup` reads a variable.
    pub fn read<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let mut bindings = Vec::new();
        for (placeholder, source) in entries {
            let (cassette, name) = match placeholder.rsplit_once('/') {
                Some((cassette, name)) => (Some(cassette.to_owned()), name),
                None => (None, placeholder),
            };
            let number = placeholder_number(name).ok_or_else(|| {
                format!(
                    "'{placeholder}' is not a placeholder: write {PLACEHOLDER_PREFIX}<n>, or \
                     <cassette>/{PLACEHOLDER_PREFIX}<n> for one cassette"
                )
            })?;
            let variable = source
                .strip_prefix("env:")
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    format!(
                        // The text is not echoed: it may be the very secret, written in by mistake.
                        "{placeholder}: write env:<VARIABLE>; values come from the environment, \
                     never from a file"
                    )
                })?;
            let value = lookup(variable).ok_or_else(|| {
                format!("{placeholder}: the environment variable {variable} is not set")
            })?;
            bindings.push(EnvBinding {
                cassette,
                number,
                value: Secret::new(value),
            });
        }
        Ok(Self(bindings))
    }

    /// The bindings that apply to the cassette `name`: its own over those for every cassette.
    pub fn for_cassette(&self, name: &str) -> HashMap<u64, Secret> {
        let mut bound = HashMap::new();
        for everywhere in [true, false] {
            for binding in &self.0 {
                let applies = match &binding.cassette {
                    None => everywhere,
                    Some(cassette) => !everywhere && cassette == name,
                };
                if applies {
                    bound.insert(binding.number, binding.value.clone());
                }
            }
        }
        bound
    }
}

/// Where a recorded request holds placeholders: each one's place in the body and its number.
#[derive(Debug, Default)]
pub struct RequestSecrets(Vec<(Vec<Step>, u64)>);

impl RequestSecrets {
    /// The placeholders in the sensitive members of `body`, a recorded input of `operation`.
    pub fn of(operation: Option<Operation>, body: &Json<'_>) -> Self {
        let mut sites = Vec::new();
        if let Some(input) = operation.and_then(|op| op.input())
            && walk::holds_sensitive(input)
        {
            walk::sensitive_strings(input, body, &mut |at, text| {
                if let Some(number) = placeholder_number(text) {
                    sites.push((at.to_vec(), number));
                }
            });
        }
        Self(sites)
    }

    /// Whether the request holds none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A recorded answer's body with the places of the placeholders in its sensitive members, to
/// put bound values in.
#[derive(Debug)]
pub enum AnswerSecrets {
    /// The body's own bytes, each placeholder's token (`"REDACTED-n"`) at a known range: the
    /// rest of the body is sent exactly as recorded.
    Tokens(Vec<(Range<usize>, u64)>),
    /// The body as JSON, written again when a value is put in: used when a placeholder's text
    /// also stands outside a sensitive member, so its tokens cannot be told apart.
    Parsed(Json<'static>, Operation),
}

impl AnswerSecrets {
    /// The placeholders in the sensitive members of `body`, an answer of `operation`; `None`
    /// when it carries none.
    pub fn of(operation: Option<Operation>, body: &[u8]) -> Option<Self> {
        let operation = operation?;
        let output = operation
            .output()
            .filter(|&shape| walk::holds_sensitive(shape))?;
        let value = Json::parse(body).ok()?.into_owned();
        let mut sensitive = Vec::new();
        walk::sensitive_strings(output, &value, &mut |_, text| {
            sensitive.extend(placeholder_number(text));
        });
        if sensitive.is_empty() {
            return None;
        }
        let tokens = placeholder_tokens(body);
        let mut found: Vec<u64> = tokens.iter().map(|(_, number)| *number).collect();
        sensitive.sort_unstable();
        found.sort_unstable();
        Some(if found == sensitive {
            Self::Tokens(tokens)
        } else {
            Self::Parsed(value, operation)
        })
    }
}

/// Every `"REDACTED-n"` string token of a JSON text, with its byte range, quotes included.
fn placeholder_tokens(body: &[u8]) -> Vec<(Range<usize>, u64)> {
    let opening = format!("\"{PLACEHOLDER_PREFIX}");
    let mut tokens = Vec::new();
    let mut from = 0;
    while let Some(at) = find(&body[from..], opening.as_bytes()).map(|i| from + i) {
        let digits = at + opening.len();
        let end = (body[digits..].iter())
            .position(|b| !b.is_ascii_digit())
            .map_or(body.len(), |n| digits + n);
        from = digits;
        if body.get(end) == Some(&b'"')
            && let Some(number) = std::str::from_utf8(&body[at + 1..end])
                .ok()
                .and_then(placeholder_number)
        {
            tokens.push((at..end + 1, number));
            from = end + 1;
        }
    }
    tokens
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The bindings of one cassette's run.
#[derive(Debug, Default)]
pub struct Bindings {
    /// Bound from the environment at start-up; they outlive a rewind.
    from_env: HashMap<u64, Secret>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    bound: HashMap<u64, Secret>,
    unbound_served: BTreeSet<u64>,
    conflicts: Vec<SecretConflict>,
}

impl Bindings {
    /// Bindings that start with `from_env`, placeholder numbers to values.
    pub fn new(from_env: HashMap<u64, Secret>) -> Self {
        let state = State {
            bound: from_env.clone(),
            ..State::default()
        };
        Self {
            from_env,
            state: Mutex::new(state),
        }
    }

    /// Binds each placeholder of `request`, the recorded request of interaction `index`, to
    /// what `live` holds at its place. A value that differs from the one bound already replaces
    /// it, as the latest write would in AWS, and is reported as a conflict.
    pub fn bind(&self, request: &RequestSecrets, live: &Json<'_>, index: usize, operation: &str) {
        let mut state = self.state();
        for (at, number) in &request.0 {
            let Some(Json::String(sent)) = live.at(at) else {
                continue;
            };
            match state.bound.get(number) {
                Some(bound) if bound.as_str() == sent.as_ref() => continue,
                Some(_) => {
                    let placeholder = placeholder(*number);
                    tracing::warn!(
                        placeholder = %placeholder,
                        interaction = index,
                        operation,
                        "the client sent another value where the recording had this placeholder \
                         before: the flow has diverged from the recording; its answers now carry \
                         the latest value"
                    );
                    if state.conflicts.len() < MAX_LISTED_CONFLICTS {
                        state.conflicts.push(SecretConflict {
                            placeholder,
                            interaction: index,
                            operation: operation.to_owned(),
                        });
                    }
                }
                None => {}
            }
            state.bound.insert(*number, Secret::new(sent.as_ref()));
        }
    }

    /// `body` with every bound placeholder of `secrets` replaced by its value; `None` when none
    /// is bound, so the recorded bytes go out as they are. Placeholders left unbound are noted
    /// for the report.
    pub fn reveal(&self, secrets: &AnswerSecrets, body: &[u8]) -> Option<Bytes> {
        let mut state = self.state();
        match secrets {
            AnswerSecrets::Tokens(tokens) => {
                let mut out = Vec::new();
                let mut copied = 0;
                for (range, number) in tokens {
                    match state.bound.get(number) {
                        Some(value) => {
                            out.extend_from_slice(&body[copied..range.start]);
                            serde_json::to_writer(&mut out, value.as_str())
                                .expect("a string always serializes");
                            copied = range.end;
                        }
                        None => {
                            state.unbound_served.insert(*number);
                        }
                    }
                }
                (copied > 0).then(|| {
                    out.extend_from_slice(&body[copied..]);
                    Bytes::from(out)
                })
            }
            AnswerSecrets::Parsed(value, operation) => {
                let output = operation.output()?;
                let mut value = value.clone();
                let mut revealed = false;
                walk::redact(output, &mut value, &mut |_, text| {
                    let Some(number) = placeholder_number(text) else {
                        return text.to_owned();
                    };
                    match state.bound.get(&number) {
                        Some(bound) => {
                            revealed = true;
                            bound.as_str().to_owned()
                        }
                        None => {
                            state.unbound_served.insert(number);
                            text.to_owned()
                        }
                    }
                });
                revealed.then(|| Bytes::from(value.to_vec()))
            }
        }
    }

    /// The placeholder number bound to `value`, so that a recording in auto mode writes the
    /// same placeholder for the same value.
    pub fn number_of(&self, value: &str) -> Option<u64> {
        let state = self.state();
        (state.bound.iter())
            .find(|(_, bound)| bound.as_str() == value)
            .map(|(number, _)| *number)
    }

    /// Forgets what clients bound, keeping the environment's bindings; what was reported (the
    /// placeholders served unbound, the conflicts) stays, as the run's counts do.
    pub fn clear(&self) {
        self.state().bound.clone_from(&self.from_env);
    }

    /// What the run's bindings came to.
    pub fn summary(&self) -> SecretsReport {
        let state = self.state();
        SecretsReport {
            bound: state.bound.len(),
            served_unbound: (state.unbound_served.iter())
                .map(|n| placeholder(*n))
                .collect(),
            conflicts: state.conflicts.clone(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn op(name: &str) -> Option<Operation> {
        Operation::named(name)
    }

    fn put(value: &str) -> (RequestSecrets, Json<'static>) {
        let recorded =
            Json::from(&json!({"Name": "/db", "Value": "REDACTED-1", "Type": "SecureString"}));
        let live = json!({"Name": "/db", "Value": value, "Type": "SecureString"});
        (
            RequestSecrets::of(op("PutParameter"), &recorded),
            Json::from(&live),
        )
    }

    const GET: &str =
        r#"{"Parameter":{"Name":"/db","Type":"SecureString","Value":"REDACTED-1","Version":1}}"#;

    fn reveal(bindings: &Bindings, body: &str) -> Option<String> {
        let secrets = AnswerSecrets::of(op("GetParameter"), body.as_bytes()).unwrap();
        (bindings.reveal(&secrets, body.as_bytes()))
            .map(|bytes| String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[test]
    fn the_same_value_sent_twice_binds_once_and_comes_back() {
        let bindings = Bindings::default();
        let (request, live) = put("hunter2");
        bindings.bind(&request, &live, 0, "PutParameter");
        bindings.bind(&request, &live, 2, "PutParameter");
        assert_eq!(
            reveal(&bindings, GET).unwrap(),
            GET.replace("REDACTED-1", "hunter2")
        );
        let summary = bindings.summary();
        assert_eq!((summary.bound, summary.conflicts.len()), (1, 0));
        assert_eq!(bindings.number_of("hunter2"), Some(1));
    }

    #[test]
    fn two_values_for_one_placeholder_are_a_conflict_and_the_latest_comes_back() {
        let bindings = Bindings::default();
        let (request, first) = put("one");
        bindings.bind(&request, &first, 0, "PutParameter");
        let (_, second) = put("two");
        bindings.bind(&request, &second, 3, "PutParameter");
        assert_eq!(
            bindings.summary().conflicts,
            [SecretConflict {
                placeholder: "REDACTED-1".to_owned(),
                interaction: 3,
                operation: "PutParameter".to_owned(),
            }]
        );
        assert!(reveal(&bindings, GET).unwrap().contains(r#""Value":"two""#));
        assert!(!format!("{bindings:?}").contains("two"));
    }

    #[test]
    fn an_unbound_placeholder_is_served_as_recorded_and_counted() {
        let bindings = Bindings::default();
        assert_eq!(reveal(&bindings, GET), None);
        assert_eq!(bindings.summary().served_unbound, ["REDACTED-1"]);
    }

    #[test]
    fn an_environment_binding_answers_before_any_client_and_outlives_a_rewind() {
        let bindings = Bindings::new(HashMap::from([(1, Secret::new("from-env"))]));
        assert!(
            reveal(&bindings, GET)
                .unwrap()
                .contains(r#""Value":"from-env""#)
        );
        let (request, live) = put("from-client");
        bindings.bind(&request, &live, 0, "PutParameter");
        bindings.clear();
        assert!(
            reveal(&bindings, GET)
                .unwrap()
                .contains(r#""Value":"from-env""#)
        );
    }

    #[test]
    fn environment_bindings_name_their_variable_and_prefer_a_cassettes_own() {
        let env = |name: &str| (name != "UNSET").then(|| format!("value of {name}"));
        let read = |entries: &[(&str, &str)]| EnvBindings::read(entries.iter().copied(), env);
        let bindings = read(&[("REDACTED-3", "env:ALL"), ("flow/REDACTED-3", "env:FLOW")]).unwrap();
        assert_eq!(
            bindings.for_cassette("flow")[&3],
            Secret::new("value of FLOW")
        );
        assert_eq!(
            bindings.for_cassette("other")[&3],
            Secret::new("value of ALL")
        );
        assert!(!format!("{bindings:?}").contains("value of"));
        assert_eq!(
            read(&[("REDACTED-3", "env:UNSET")]).unwrap_err(),
            "REDACTED-3: the environment variable UNSET is not set"
        );
        assert_eq!(
            read(&[("REDACTED-3", "hunter2")]).unwrap_err(),
            "REDACTED-3: write env:<VARIABLE>; values come from the environment, never from a file"
        );
        assert!(
            read(&[("SECRET-3", "env:ALL")])
                .unwrap_err()
                .contains("is not a placeholder")
        );
    }

    #[test]
    fn a_rewind_forgets_what_clients_bound() {
        let bindings = Bindings::default();
        let (request, live) = put("hunter2");
        bindings.bind(&request, &live, 0, "PutParameter");
        bindings.clear();
        assert_eq!(reveal(&bindings, GET), None);
        assert_eq!(bindings.summary().bound, 0);
    }

    #[test]
    fn values_are_escaped_as_json_and_the_rest_of_the_body_kept_byte_for_byte() {
        let bindings = Bindings::default();
        let value = "quote\" back\\slash\nnew line \u{1} é";
        let (request, live) = put(value);
        bindings.bind(&request, &live, 0, "PutParameter");
        // Spaces the proxy would not write: the bytes around the value stay as recorded.
        let body = r#"{ "Parameter": {"Name": "/db", "Value": "REDACTED-1"} }"#;
        let revealed = reveal(&bindings, body).unwrap();
        assert_eq!(
            revealed,
            r#"{ "Parameter": {"Name": "/db", "Value": "quote\" back\\slash\nnew line \u0001 é"} }"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&revealed).unwrap();
        assert_eq!(parsed["Parameter"]["Value"], value);
    }

    #[test]
    fn a_placeholder_text_outside_a_sensitive_member_is_left_alone() {
        let bindings = Bindings::default();
        let (request, live) = put("hunter2");
        bindings.bind(&request, &live, 0, "PutParameter");
        // `Name` is not sensitive: a parameter may be called that.
        let body = r#"{"Parameter":{"Name":"REDACTED-1","Value":"REDACTED-1"}}"#;
        assert_eq!(
            reveal(&bindings, body).unwrap(),
            r#"{"Parameter":{"Name":"REDACTED-1","Value":"hunter2"}}"#
        );
    }

    #[test]
    fn answers_without_sensitive_placeholders_need_no_work() {
        let plain = br#"{"Parameter":{"Name":"/db","Value":"plain"}}"#;
        assert!(AnswerSecrets::of(op("GetParameter"), plain).is_none());
        let unsensitive = br#"{"WindowId":"REDACTED-1"}"#;
        assert!(
            AnswerSecrets::of(op("DeregisterTaskFromMaintenanceWindow"), unsensitive).is_none()
        );
        let recorded = Json::from(&json!({"Name": "/db", "Type": "String"}));
        assert!(RequestSecrets::of(op("PutParameter"), &recorded).is_empty());
    }
}
