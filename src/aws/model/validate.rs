//! Validation of an operation's input against the model, recursively, worded exactly as AWS's
//! service framework (Coral) words it:
//!
//! ```text
//! 2 validation errors detected: Value 'mw-1' at 'windowId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^mw-[0-9a-f]{17}$; Value null at 'windowTaskId' failed to satisfy constraint: Member must not be null
//! ```
//!
//! Members are checked in model order, each member's own constraints (pattern, then length,
//! then enum or range) before what is inside it; elements of a list of structures are
//! `targets.1.member.key`, map entries `parameters.<key>.member`; a list of strings or numbers
//! is reported once, at the list, in Coral's `Member must satisfy constraint: [...]` form, and
//! a map's keys and values once each, in its `Map keys must satisfy constraint: [...]` form. A value whose shape is, or holds,
//! something `sensitive` is never echoed (`Value at 'value' …`). A JSON value of the wrong type
//! is a `SerializationException`, as AWS fails to deserialize before it validates; unknown
//! members are ignored. Where AWS's exact text is not known, the choices and their evidence are
//! in docs/validation.md. This module does not build responses.

use std::fmt::Write as _;

use super::pattern::Pattern;
use super::{Bounds, Kind, Member, Operation, Shape, ssm};
use crate::json::{Json, Object};

/// Most errors one message lists, as Coral caps its list.
pub const MAX_LISTED: usize = 10;

/// Why an input is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A value of the wrong JSON type: AWS's `SerializationException`.
    #[error("a member has the wrong JSON type")]
    Serialization {
        /// What is wrong, naming the member.
        reason: String,
    },
    /// Failed constraints: AWS's `ValidationException`.
    #[error("the input failed validation")]
    Validation {
        /// The whole `N validation error(s) detected: …` text.
        message: String,
    },
}

/// Checks `input` against `operation`'s input shape.
pub fn validate(operation: Operation, input: &Object<'_>) -> Result<(), Rejection> {
    let Some(shape) = operation.input() else {
        return Ok(());
    };
    let mut validator = Validator::default();
    validator.structure_members(&At::Root, ssm().shape(shape), input, false)?;
    match validator.failures.len() {
        0 => Ok(()),
        _ => Err(Rejection::Validation {
            message: message(&validator.failures),
        }),
    }
}

/// Where a value sits in the input, rendered only when something fails there.
enum At<'a> {
    Root,
    Member(&'a At<'a>, &'a Member),
    Element(&'a At<'a>, usize),
    Entry(&'a At<'a>, &'a str),
}

impl At<'_> {
    /// AWS's spelling: `targets.1.member.key`.
    fn message_path(&self) -> String {
        let mut path = String::new();
        self.write_message_path(&mut path);
        path
    }

    fn write_message_path(&self, out: &mut String) {
        match self {
            Self::Root => {}
            Self::Member(parent, member) => {
                parent.write_message_path(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&member.message_name);
            }
            Self::Element(parent, index) => {
                parent.write_message_path(out);
                let _ = write!(out, ".{}.member", index + 1);
            }
            Self::Entry(parent, key) => {
                parent.write_message_path(out);
                let _ = write!(out, ".{key}.member");
            }
        }
    }

    /// The wire spelling, for serialization errors: `Targets[0].Key`.
    fn wire_path(&self) -> String {
        match self {
            Self::Root => String::new(),
            Self::Member(Self::Root, member) => member.name.clone(),
            Self::Member(parent, member) => format!("{}.{}", parent.wire_path(), member.name),
            Self::Element(parent, index) => format!("{}[{index}]", parent.wire_path()),
            Self::Entry(parent, key) => format!("{}[{key:?}]", parent.wire_path()),
        }
    }
}

#[derive(Default)]
struct Validator {
    failures: Vec<String>,
}

impl Validator {
    /// A value: its JSON type, its own constraints, then what is inside it. `hidden`: an
    /// enclosing shape is sensitive.
    fn value(
        &mut self,
        at: &At<'_>,
        shape: &Shape,
        value: &Json<'_>,
        hidden: bool,
    ) -> Result<(), Rejection> {
        if matches!(value, Json::Null) {
            return Ok(()); // required members are checked by their structure
        }
        check_type(at, shape, value)?;
        let echo = !(hidden || shape.holds_sensitive);
        for constraint in constraints(shape).filter(|c| c.fails(value)) {
            self.fail(at, echo.then(|| java_text(value)), &constraint.text());
        }
        self.inside(at, shape, value, hidden || shape.sensitive)
    }

    /// The members, elements or entries of a value whose type was checked.
    fn inside(
        &mut self,
        at: &At<'_>,
        shape: &Shape,
        value: &Json<'_>,
        hidden: bool,
    ) -> Result<(), Rejection> {
        match (&shape.kind, value) {
            (Kind::Structure { .. }, Json::Object(object)) => {
                self.structure_members(at, shape, object, hidden)
            }
            (Kind::List { member, .. }, Json::Array(items)) => {
                let member = ssm().shape(*member);
                if is_simple(member) {
                    return self.simple_elements(at, shape, member, items, hidden);
                }
                for (index, item) in items.iter().enumerate() {
                    self.value(&At::Element(at, index), member, item, hidden)?;
                }
                Ok(())
            }
            (
                Kind::Map {
                    key, value: val, ..
                },
                Json::Object(entries),
            ) => self.map_entries(
                at,
                shape,
                ssm().shape(*key),
                ssm().shape(*val),
                entries,
                hidden,
            ),
            _ => Ok(()),
        }
    }

    fn structure_members(
        &mut self,
        at: &At<'_>,
        shape: &Shape,
        object: &Object<'_>,
        hidden: bool,
    ) -> Result<(), Rejection> {
        let Kind::Structure { members, .. } = &shape.kind else {
            return Ok(());
        };
        for member in members {
            let here = At::Member(at, member);
            match object.get(&member.name) {
                None | Some(Json::Null) => {
                    if member.required {
                        self.failures.push(format!(
                            "Value null at '{}' failed to satisfy constraint: Member must not be null",
                            here.message_path()
                        ));
                    }
                }
                Some(value) => self.value(&here, ssm().shape(member.shape), value, hidden)?,
            }
        }
        Ok(())
    }

    /// A map's keys and values, each reported once with every constraint of its shape, then
    /// what is inside each value.
    fn map_entries(
        &mut self,
        at: &At<'_>,
        map: &Shape,
        key: &Shape,
        value: &Shape,
        entries: &Object<'_>,
        hidden: bool,
    ) -> Result<(), Rejection> {
        let echo = !(hidden || map.holds_sensitive);
        let shown = || echo.then(|| java_text(&Json::Object(entries.clone())));
        let mut keys_fail = false;
        let mut values_fail = false;
        for (name, entry) in entries.iter() {
            keys_fail |= fails_any(key, &Json::String(name.into()));
            if !matches!(entry, Json::Null) {
                check_type(&At::Entry(at, name), value, entry)?;
                values_fail |= fails_any(value, entry);
            }
        }
        if keys_fail {
            let all = map_form(key);
            self.fail(
                at,
                shown(),
                &format!("Map keys must satisfy constraint: [{all}]"),
            );
        }
        if values_fail {
            let all = map_form(value);
            self.fail(
                at,
                shown(),
                &format!("Map value must satisfy constraint: [{all}]"),
            );
        }
        let hidden = hidden || map.sensitive || value.sensitive;
        for (name, entry) in entries.iter() {
            self.inside(&At::Entry(at, name), value, entry, hidden)?;
        }
        Ok(())
    }

    /// A list of strings or numbers: one error at the list, whichever elements fail, listing
    /// every constraint of the element shape, as Coral reports it.
    fn simple_elements(
        &mut self,
        at: &At<'_>,
        list: &Shape,
        member: &Shape,
        items: &[Json<'_>],
        hidden: bool,
    ) -> Result<(), Rejection> {
        let mut any_fails = false;
        for (index, item) in items.iter().enumerate() {
            if !matches!(item, Json::Null) {
                check_type(&At::Element(at, index), member, item)?;
                any_fails |= fails_any(member, item);
            }
        }
        if any_fails {
            let echo = !(hidden || list.holds_sensitive);
            let shown = echo.then(|| java_text(&Json::Array(items.to_vec())));
            let all = list_form(member);
            self.fail(
                at,
                shown,
                &format!("Member must satisfy constraint: [{all}]"),
            );
        }
        Ok(())
    }

    fn fail(&mut self, at: &At<'_>, shown: Option<String>, constraint: &str) {
        let path = at.message_path();
        self.failures.push(match shown {
            Some(text) => {
                format!("Value '{text}' at '{path}' failed to satisfy constraint: {constraint}")
            }
            None => format!("Value at '{path}' failed to satisfy constraint: {constraint}"),
        });
    }
}

/// `SerializationException` unless `value` has the JSON type `shape` is read from.
fn check_type(at: &At<'_>, shape: &Shape, value: &Json<'_>) -> Result<(), Rejection> {
    let (fits, expected) = match &shape.kind {
        Kind::Structure { .. } | Kind::Map { .. } => (matches!(value, Json::Object(_)), "object"),
        Kind::List { .. } => (matches!(value, Json::Array(_)), "array"),
        Kind::String { .. } | Kind::Blob => (matches!(value, Json::String(_)), "string"),
        Kind::Number { .. } => (matches!(value, Json::Number(_)), "number"),
        Kind::Boolean => (matches!(value, Json::Bool(_)), "boolean"),
        // awsJson1_1 sends epoch seconds; a date string is left for AWS to judge.
        Kind::Timestamp => (matches!(value, Json::Number(_) | Json::String(_)), "number"),
    };
    if fits {
        return Ok(());
    }
    Err(Rejection::Serialization {
        reason: format!(
            "member '{}' must be a JSON {expected}, not {}",
            at.wire_path(),
            value.kind()
        ),
    })
}

/// One modeled constraint of a shape.
enum Constraint<'m> {
    Pattern(&'m Pattern),
    MinLength(u64),
    MaxLength(u64),
    Enum(&'m [String]),
    MinValue(&'m serde_json::Number),
    MaxValue(&'m serde_json::Number),
}

impl Constraint<'_> {
    /// Whether `value` (of the shape's JSON type) breaks it. A pattern that cannot be run
    /// accepts: a call AWS accepts must never be refused.
    fn fails(&self, value: &Json<'_>) -> bool {
        let number = || match value {
            Json::Number(n) => n.as_f64(),
            _ => None,
        };
        let bound = |bound: &serde_json::Number| bound.as_f64();
        match (self, value) {
            (Self::Pattern(pattern), Json::String(text)) => pattern.matches(text) == Ok(false),
            (Self::MinLength(min), _) => length(value).is_some_and(|n| n < *min),
            (Self::MaxLength(max), _) => length(value).is_some_and(|n| n > *max),
            (Self::Enum(allowed), Json::String(text)) => !allowed.iter().any(|a| a == text),
            (Self::MinValue(min), _) => {
                matches!((number(), bound(min)), (Some(n), Some(m)) if n < m)
            }
            (Self::MaxValue(max), _) => {
                matches!((number(), bound(max)), (Some(n), Some(m)) if n > m)
            }
            _ => false,
        }
    }

    /// Coral's text for it.
    fn text(&self) -> String {
        match self {
            Self::Pattern(pattern) => format!(
                "Member must satisfy regular expression pattern: {}",
                pattern.as_str()
            ),
            Self::MinLength(min) => {
                format!("Member must have length greater than or equal to {min}")
            }
            Self::MaxLength(max) => format!("Member must have length less than or equal to {max}"),
            // Reverse model order: the one published SSM capture
            // (`[SecureString, StringList, String]`) lists them so (docs/validation.md).
            Self::Enum(allowed) => {
                let values: Vec<&str> = allowed.iter().rev().map(String::as_str).collect();
                format!(
                    "Member must satisfy enum value set: [{}]",
                    values.join(", ")
                )
            }
            Self::MinValue(min) => format!("Member must have value greater than or equal to {min}"),
            Self::MaxValue(max) => format!("Member must have value less than or equal to {max}"),
        }
    }

    /// Where Coral's map form (`Map keys must satisfy constraint: [...]`) lists it: upper
    /// bound, lower bound, pattern, enum.
    fn map_form_rank(&self) -> u8 {
        match self {
            Self::MaxLength(_) | Self::MaxValue(_) => 0,
            Self::MinLength(_) | Self::MinValue(_) => 1,
            Self::Pattern(_) => 2,
            Self::Enum(_) => 3,
        }
    }
}

/// A string's length in characters, a list's elements, a map's entries.
fn length(value: &Json<'_>) -> Option<u64> {
    let n = match value {
        // ASCII, nearly every value, is one byte a character: nothing to count.
        Json::String(text) if text.is_ascii() => text.len(),
        Json::String(text) => text.chars().count(),
        Json::Array(items) => items.len(),
        Json::Object(entries) => entries.iter().count(),
        _ => return None,
    };
    Some(n as u64)
}

/// Every constraint of `shape`, in the order Coral checks one member: pattern, lengths,
/// enum, range.
fn constraints(shape: &Shape) -> impl Iterator<Item = Constraint<'_>> {
    let (pattern, length, enumeration, min, max) = match &shape.kind {
        Kind::String {
            length,
            pattern,
            enumeration,
        } => (
            pattern.as_deref(),
            *length,
            enumeration.as_slice(),
            None,
            None,
        ),
        Kind::List { length, .. } | Kind::Map { length, .. } => {
            (None, *length, &[][..], None, None)
        }
        Kind::Number { min, max } => (None, Bounds::default(), &[][..], min.as_ref(), max.as_ref()),
        _ => (None, Bounds::default(), &[][..], None, None),
    };
    [
        pattern.map(Constraint::Pattern),
        length.min.map(Constraint::MinLength),
        length.max.map(Constraint::MaxLength),
        (!enumeration.is_empty()).then_some(Constraint::Enum(enumeration)),
        min.map(Constraint::MinValue),
        max.map(Constraint::MaxValue),
    ]
    .into_iter()
    .flatten()
}

/// Whether `value` (of the right type) breaks any constraint of `shape`.
fn fails_any(shape: &Shape, value: &Json<'_>) -> bool {
    constraints(shape).any(|c| c.fails(value))
}

/// Every constraint of a map's key or value shape, in Coral's map form.
fn map_form(shape: &Shape) -> String {
    let mut all: Vec<Constraint<'_>> = constraints(shape).collect();
    all.sort_by_key(Constraint::map_form_rank);
    let texts: Vec<String> = all.iter().map(Constraint::text).collect();
    texts.join(", ")
}

/// Whether a list of `member`s is reported in the list form: strings and numbers.
fn is_simple(member: &Shape) -> bool {
    matches!(member.kind, Kind::String { .. } | Kind::Number { .. })
}

/// What the list form lists after the element shape's constraints. Captures from AWS disagree
/// on a trailing `Member must not be null`; the proxy leaves it out (docs/validation.md).
const LIST_FORM_TAIL: &[&str] = &[];

/// Every constraint of a list's element shape, in the list form's order (the map form's).
fn list_form(member: &Shape) -> String {
    let own = Some(map_form(member)).filter(|texts| !texts.is_empty());
    let tail = LIST_FORM_TAIL.iter().map(|text| (*text).to_owned());
    own.into_iter().chain(tail).collect::<Vec<_>>().join(", ")
}

/// A value as Java's `toString` prints it: text bare, lists `[a, b]`, maps and structures
/// `{k=v}`.
fn java_text(value: &Json<'_>) -> String {
    match value {
        Json::Null => "null".to_owned(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(text) => text.to_string(),
        Json::Array(items) => {
            let items: Vec<String> = items.iter().map(java_text).collect();
            format!("[{}]", items.join(", "))
        }
        Json::Object(members) => {
            let members: Vec<String> = members
                .iter()
                .map(|(key, value)| format!("{key}={}", java_text(value)))
                .collect();
            format!("{{{}}}", members.join(", "))
        }
    }
}

/// `1 validation error detected: <e>` / `2 validation errors detected: <e>; <e>`, at most
/// [`MAX_LISTED`] of them.
fn message(failures: &[String]) -> String {
    let listed = &failures[..failures.len().min(MAX_LISTED)];
    let plural = if listed.len() == 1 { "" } else { "s" };
    format!(
        "{} validation error{plural} detected: {}",
        listed.len(),
        listed.join("; ")
    )
}
