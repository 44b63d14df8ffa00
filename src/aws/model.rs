//! The operation model: constraints declared once per operation, as data, and the validator
//! that words its failures exactly as AWS's service framework does.
//!
//! To validate another operation, add an [`OperationShape`] to [`OPERATIONS`]; no code changes.
//! Operations that are not modeled are passed through unvalidated (they are still proxied,
//! recorded and replayed). This module does not parse envelopes or build responses.

use std::fmt::Write as _;

use regex_automata::Input as Haystack;
use regex_automata::dfa::{Automaton, dense};

use super::envelope::Input;
use crate::error::ProxyError;
use crate::json::Json;

/// The constraints of one operation's input, members in model order.
#[derive(Debug)]
pub struct OperationShape {
    /// The operation name, as in `X-Amz-Target`.
    pub name: &'static str,
    /// Input members in model order (the order AWS reports errors in).
    pub members: &'static [MemberShape],
}

/// One input member and its constraints.
#[derive(Debug)]
pub struct MemberShape {
    /// The wire name (`WindowId`); messages use its lowerCamel form (`windowId`).
    pub name: &'static str,
    /// `@required`: absent or JSON null fails with `Member must not be null`.
    pub required: bool,
    /// The member's type and its constraints.
    pub shape: Shape,
}

/// A member type with the constraints AWS checks.
#[derive(Debug)]
pub enum Shape {
    /// A string with optional `@length` (in characters) and `@pattern` constraints.
    String {
        /// Minimum length in characters.
        min_length: Option<usize>,
        /// Maximum length in characters.
        max_length: Option<usize>,
        /// The regular expression, exactly as modeled (it is echoed in messages).
        pattern: Option<&'static str>,
    },
}

/// Every modeled operation.
pub const OPERATIONS: &[OperationShape] = &[OperationShape {
    name: "DeregisterTaskFromMaintenanceWindow",
    members: &[
        MemberShape {
            name: "WindowId",
            required: true,
            shape: Shape::String {
                min_length: Some(20),
                max_length: Some(20),
                pattern: Some("^mw-[0-9a-f]{17}$"),
            },
        },
        MemberShape {
            name: "WindowTaskId",
            required: true,
            shape: Shape::String {
                min_length: Some(36),
                max_length: Some(36),
                pattern: Some(
                    r"^[0-9a-fA-F]{8}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{12}$",
                ),
            },
        },
    ],
}];

/// The model with its patterns compiled once.
#[derive(Debug)]
pub struct Model {
    /// A handful of operations: finding one by a scan beats hashing its name on every call.
    operations: Vec<(&'static str, CompiledOperation)>,
}

/// An operation's members, each beside its compiled pattern (if any), in model order.
#[derive(Debug)]
struct CompiledOperation {
    members: Vec<(&'static MemberShape, Option<Pattern>)>,
}

/// A modeled pattern, compiled ahead of time into a dense DFA. Searching one needs no
/// mutable cache, so the runtime's threads share it as it is: `regex::Regex` hands each
/// search a cache from a pool, whose owner check and lock (on every thread but the first to
/// use it) cost more under load than the match itself.
#[derive(Debug)]
struct Pattern(dense::DFA<Vec<u32>>);

impl Pattern {
    /// # Panics
    /// If `pattern` is not a regular expression a dense DFA can be built for.
    fn new(pattern: &str) -> Self {
        Self(dense::DFA::new(pattern).expect("modeled patterns compile to a DFA"))
    }

    /// Whether `text` has a match anywhere, as `regex::Regex::is_match` answers. A DFA built
    /// with the default configuration never gives up on a search; if it did, the value would
    /// fail its constraint rather than pass it.
    fn is_match(&self, text: &str) -> bool {
        matches!(
            self.0.try_search_fwd(&Haystack::new(text).earliest(true)),
            Ok(Some(_))
        )
    }
}

impl Model {
    /// The built-in model ([`OPERATIONS`]).
    pub fn builtin() -> Self {
        Self::new(OPERATIONS)
    }

    /// A model of the given operations.
    ///
    /// # Panics
    /// If a modeled pattern is not a regular expression a dense DFA can be built for: the
    /// model is static data, so this is caught by the unit tests, never by a request.
    pub fn new(operations: &'static [OperationShape]) -> Self {
        let compile = |member: &'static MemberShape| {
            let Shape::String { pattern, .. } = member.shape;
            (member, pattern.map(Pattern::new))
        };
        let operations = operations
            .iter()
            .map(|op| {
                let members = op.members.iter().map(compile).collect();
                (op.name, CompiledOperation { members })
            })
            .collect();
        Self { operations }
    }

    /// Checks `input` against the operation's model, as AWS does: members of the wrong JSON
    /// type are a `SerializationException` (AWS fails to deserialize before it validates);
    /// otherwise every failed constraint is reported, in model order, in one
    /// `ValidationException`. Unmodeled operations and unknown members pass.
    pub fn validate(&self, operation: &str, input: &Input<'_>) -> Result<(), ProxyError> {
        let Some((_, compiled)) = self.operations.iter().find(|(name, _)| *name == operation)
        else {
            return Ok(());
        };
        let mut failures = Vec::new();
        for (member, compiled_pattern) in &compiled.members {
            let value = input.get(member.name).unwrap_or(&Json::Null);
            match (&member.shape, value) {
                (_, Json::Null) => {
                    if member.required {
                        failures.push(format!(
                            "Value null at '{}' failed to satisfy constraint: Member must not be null",
                            lower_camel(member.name)
                        ));
                    }
                }
                (
                    Shape::String {
                        min_length,
                        max_length,
                        pattern,
                    },
                    Json::String(text),
                ) => {
                    let failed = |constraint: &str| {
                        format!(
                            "Value '{text}' at '{}' failed to satisfy constraint: {constraint}",
                            lower_camel(member.name)
                        )
                    };
                    if let (Some(pattern), Some(compiled)) = (pattern, compiled_pattern)
                        && !compiled.is_match(text)
                    {
                        failures.push(failed(&format!(
                            "Member must satisfy regular expression pattern: {pattern}"
                        )));
                    }
                    // Lengths are in characters; ids are ASCII, where that is the byte length.
                    let length = if text.is_ascii() {
                        text.len()
                    } else {
                        text.chars().count()
                    };
                    if let Some(min) = min_length.filter(|&min| length < min) {
                        failures.push(failed(&format!(
                            "Member must have length greater than or equal to {min}"
                        )));
                    }
                    if let Some(max) = max_length.filter(|&max| length > max) {
                        failures.push(failed(&format!(
                            "Member must have length less than or equal to {max}"
                        )));
                    }
                }
                (Shape::String { .. }, other) => {
                    return Err(ProxyError::Serialization {
                        reason: format!(
                            "member '{}' must be a JSON string, not {}",
                            member.name,
                            other.kind()
                        ),
                    });
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ProxyError::Validation {
                message: validation_message(&failures),
            })
        }
    }
}

/// `1 validation error detected: <e>` / `2 validation errors detected: <e>; <e>`.
fn validation_message(failures: &[String]) -> String {
    let mut message = String::new();
    let plural = if failures.len() == 1 { "" } else { "s" };
    let _ = write!(
        message,
        "{} validation error{plural} detected: ",
        failures.len()
    );
    message.push_str(&failures.join("; "));
    message
}

/// `WindowId` → `windowId`, the member spelling of AWS's validation messages.
fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEREGISTER: &str = "DeregisterTaskFromMaintenanceWindow";

    fn validate(body: &str) -> Result<(), ProxyError> {
        let input = crate::aws::envelope::input(body.as_bytes()).unwrap();
        Model::builtin().validate(DEREGISTER, &input)
    }

    fn message(body: &str) -> String {
        match validate(body) {
            Err(ProxyError::Validation { message }) => message,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    mod validate {
        use super::*;

        #[test]
        fn accepts_valid_ids_and_ignores_unknown_members() {
            validate(r#"{"WindowId":"mw-0123456789abcdef0","WindowTaskId":"3F2A1B4C-0000-4000-8000-00000000abcd","Extra":1}"#)
                .unwrap();
        }

        #[test]
        fn reports_pattern_before_length_for_one_member() {
            assert_eq!(
                message(
                    r#"{"WindowId":"mw-123","WindowTaskId":"3f2a1b4c-0000-4000-8000-00000000abcd"}"#
                ),
                "2 validation errors detected: \
                 Value 'mw-123' at 'windowId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^mw-[0-9a-f]{17}$; \
                 Value 'mw-123' at 'windowId' failed to satisfy constraint: Member must have length greater than or equal to 20"
            );
        }

        #[test]
        fn reports_both_missing_members_in_model_order() {
            assert_eq!(
                message("{}"),
                "2 validation errors detected: \
                 Value null at 'windowId' failed to satisfy constraint: Member must not be null; \
                 Value null at 'windowTaskId' failed to satisfy constraint: Member must not be null"
            );
        }

        #[test]
        fn counts_length_in_characters_not_bytes() {
            // 20 characters, 21 bytes: only the pattern fails.
            let msg = message(
                r#"{"WindowId":"mw-0123456789abcdef\u00e9","WindowTaskId":"3f2a1b4c-0000-4000-8000-00000000abcd"}"#,
            );
            assert!(msg.starts_with("1 validation error detected: "), "{msg}");
        }

        #[test]
        fn wrong_json_type_is_a_serialization_error() {
            assert!(matches!(
                validate(
                    r#"{"WindowId":123,"WindowTaskId":"3f2a1b4c-0000-4000-8000-00000000abcd"}"#
                ),
                Err(ProxyError::Serialization { .. })
            ));
        }

        #[test]
        fn patterns_match_as_the_regex_crate_does() {
            // Each modeled pattern against valid values and their near misses: every character
            // replaced, cut off or doubled, affixes, case, multi-byte text.
            let valid = [
                "mw-0123456789abcdef0",
                "3f2a1b4c-0000-4000-8000-00000000ABCD",
            ];
            let mut texts: Vec<String> = vec![String::new(), "é".into(), "mw-".into()];
            for value in valid {
                for at in 0..value.len() {
                    for replacement in ["0", "f", "g", "F", "-", "é", " ", "\n", ""] {
                        texts.push(format!("{}{replacement}{}", &value[..at], &value[at + 1..]));
                    }
                    texts.push(value[..at].to_owned());
                    texts.push(format!("{}{}", &value[..=at], &value[at..]));
                }
                for affix in ["x", "\n", "\u{0}", "é"] {
                    texts.push(format!("{affix}{value}"));
                    texts.push(format!("{value}{affix}"));
                }
                texts.push(value.to_uppercase());
                texts.push(value.to_owned());
            }
            for operation in OPERATIONS {
                for member in operation.members {
                    let Shape::String {
                        pattern: Some(pattern),
                        ..
                    } = member.shape
                    else {
                        continue;
                    };
                    let (ours, theirs) =
                        (Pattern::new(pattern), regex::Regex::new(pattern).unwrap());
                    let matched = texts.iter().filter(|text| theirs.is_match(text)).count();
                    assert!(matched > 0, "no text matches {pattern}");
                    for text in &texts {
                        assert_eq!(
                            ours.is_match(text),
                            theirs.is_match(text),
                            "{pattern} on {text:?}"
                        );
                    }
                }
            }
        }

        #[test]
        fn unmodeled_operations_pass() {
            let input = crate::aws::envelope::input(br#"{"WindowId":1}"#).unwrap();
            Model::builtin()
                .validate("DescribeMaintenanceWindows", &input)
                .unwrap();
        }
    }
}
