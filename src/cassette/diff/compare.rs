//! How two answers to one request compare, path by path, each difference classed by the model:
//! the walk over the two JSON trees with the output shape beside them, list elements paired by
//! the member that names them, values shown or counted. `mod.rs` decides which answers meet.

use super::{Change, Class, Reason};
use crate::aws::model::waiters::paths_read;
use crate::aws::model::{Kind, Operation, Shape, ssm};
use crate::cassette::format::{Interaction, RecordedResponse};
use crate::cassette::matching::MatchKey;
use crate::cassette::placeholder::is_placeholder;
use crate::cassette::replay::error_type;
use crate::json::{Json, Object};
use crate::text::printable;

/// One step of a path into a body.
enum Step {
    /// `request` or `response`.
    Root(&'static str),
    Member(String),
    Element(usize),
    Entry(String),
}

/// The comparison of one pair.
pub(super) struct Comparison {
    operation: Option<Operation>,
    /// What the operation's waiters read, as JMESPath.
    waiters_read: Vec<String>,
    all_values: bool,
    pub(super) changes: Vec<Change>,
    pub(super) hidden: usize,
}

/// How a member, entry or element that one side lacks is reported.
#[derive(Clone, Copy)]
struct Unmatched {
    gone: (Class, Reason),
    added: (Class, Reason),
}

/// A structure's members are its schema: one gone breaks a reader, one new does not.
const MEMBERS: Unmatched = Unmatched {
    gone: (Class::Breaking, Reason::MemberRemoved),
    added: (Class::Additive, Reason::MemberAdded),
};
/// A list's elements are data.
const ELEMENTS: Unmatched = Unmatched {
    gone: (Class::Value, Reason::ElementRemoved),
    added: (Class::Value, Reason::ElementAdded),
};
/// So are a map's entries.
const ENTRIES: Unmatched = Unmatched {
    gone: (Class::Value, Reason::ValueChanged),
    added: (Class::Value, Reason::ValueChanged),
};

/// Longest value a change prints.
const MAX_VALUE_CHARS: usize = 80;

impl Comparison {
    pub(super) fn new(operation: &str, all_values: bool) -> Self {
        Self {
            operation: Operation::named(operation),
            waiters_read: paths_read(operation),
            all_values,
            changes: Vec::new(),
            hidden: 0,
        }
    }

    /// The requests of a pair that matching told apart, without what matching ignores.
    pub(super) fn requests(&mut self, old: &MatchKey, new: &MatchKey) {
        let input = (self.operation)
            .and_then(|op| op.input())
            .map(|id| ssm().shape(id));
        let mut path = vec![Step::Root("request")];
        self.values(&mut path, input, old.body(), new.body());
    }

    pub(super) fn responses(&mut self, old: &Interaction, new: &Interaction) {
        let (before, after) = (&old.response, &new.response);
        if before.status != after.status {
            let (old, new) = (before.status.to_string(), after.status.to_string());
            self.change(Class::Breaking, Reason::StatusChanged, "status", old, new);
        }
        let (old_error, new_error) = (error_of(before), error_of(after));
        if old_error != new_error {
            let text = |error: Option<String>| error.unwrap_or_else(|| "none".to_owned());
            let (old, new) = (text(old_error), text(new_error));
            self.change(Class::Breaking, Reason::ErrorChanged, "error", old, new);
            // Another kind of answer: its body says nothing the error does not.
            return;
        }
        let (Ok(old_bytes), Ok(new_bytes)) = (before.body.to_bytes(), after.body.to_bytes()) else {
            return;
        };
        if old_bytes == new_bytes {
            return;
        }
        match (Json::parse(&old_bytes), Json::parse(&new_bytes)) {
            (Ok(old_body), Ok(new_body)) => {
                // Errors have their own shapes; the output shape describes a success.
                let output = (self.operation)
                    .filter(|_| after.status < 300)
                    .and_then(|op| op.output())
                    .map(|id| ssm().shape(id));
                let mut path = vec![Step::Root("response")];
                self.values(&mut path, output, &old_body, &new_body);
            }
            _ => {
                let bytes = |n: usize| format!("{n} bytes");
                let (old, new) = (bytes(old_bytes.len()), bytes(new_bytes.len()));
                self.value(
                    Reason::BodyChanged,
                    "response".to_owned(),
                    Some(old),
                    Some(new),
                );
            }
        }
    }

    /// How many times in a row each recording got its answer: a waiter's polls, which depend
    /// on timing.
    pub(super) fn repeats(&mut self, old: &Interaction, new: &Interaction) {
        if old.repeat != new.repeat {
            let (old, new) = (old.repeat.to_string(), new.repeat.to_string());
            self.value(
                Reason::ValueChanged,
                "repeat".to_owned(),
                Some(old),
                Some(new),
            );
        }
    }

    /// Compares two values at `path`, whose shape is `shape` when the model knows it.
    fn values(
        &mut self,
        path: &mut Vec<Step>,
        shape: Option<&Shape>,
        old: &Json<'_>,
        new: &Json<'_>,
    ) {
        if old == new {
            return;
        }
        let kind = shape.map(|shape| &shape.kind);
        match (old, new) {
            (Json::Object(old), Json::Object(new)) => match kind {
                Some(Kind::Map { value, .. }) => {
                    self.entries(path, Some(ssm().shape(*value)), old, new);
                }
                _ => self.members(path, shape, old, new),
            },
            (Json::Array(old), Json::Array(new)) => {
                let element = match kind {
                    Some(Kind::List { member, .. }) => Some(ssm().shape(*member)),
                    _ => None,
                };
                self.elements(path, element, old, new);
            }
            (Json::String(old), Json::String(new))
                if is_placeholder(old) && is_placeholder(new) => {}
            _ => {
                let listed = match (kind, new) {
                    (Some(Kind::String { enumeration, .. }), Json::String(text))
                        if !enumeration.is_empty() =>
                    {
                        Some(enumeration.iter().any(|value| value == text))
                    }
                    _ => None,
                };
                let same_type = std::mem::discriminant(old) == std::mem::discriminant(new);
                let path = rendered(path);
                let (old, new) = (Some(shown(shape, old)), Some(shown(shape, new)));
                match listed {
                    _ if !same_type => {
                        self.change_at(Class::Breaking, Reason::TypeChanged, path, old, new);
                    }
                    Some(false) => {
                        self.change_at(Class::Additive, Reason::UnknownEnumValue, path, old, new);
                    }
                    Some(true) if !self.read_by_waiter(&path) => {
                        self.change_at(Class::Value, Reason::EnumValueChanged, path, old, new);
                    }
                    _ => self.value(Reason::ValueChanged, path, old, new),
                }
            }
        }
    }

    /// A list's elements. Objects that one member identifies in both lists (a name, an id)
    /// pair by it, so an element inserted before others is one element added, not every later
    /// one changed; other elements pair by position. An element gone or new is a value change:
    /// lists hold data.
    fn elements(
        &mut self,
        path: &mut Vec<Step>,
        element: Option<&Shape>,
        old: &[Json<'_>],
        new: &[Json<'_>],
    ) {
        let pairs: Vec<(Option<usize>, Option<usize>)> = match identifying_member(old, new) {
            Some(name) => {
                let id = |item: &Json<'_>| item.get(name).and_then(Json::as_str).map(str::to_owned);
                let mut pairs: Vec<(Option<usize>, Option<usize>)> = (old.iter().enumerate())
                    .map(|(i, item)| (Some(i), new.iter().position(|n| id(n) == id(item))))
                    .collect();
                let paired: Vec<usize> = pairs.iter().filter_map(|(_, n)| *n).collect();
                pairs.extend(
                    (0..new.len())
                        .filter(|n| !paired.contains(n))
                        .map(|n| (None, Some(n))),
                );
                pairs
            }
            None => (0..old.len().max(new.len()))
                .map(|i| ((i < old.len()).then_some(i), (i < new.len()).then_some(i)))
                .collect(),
        };
        for (o, n) in pairs {
            // A paired element is named by its place in the new list.
            let step = Step::Element(n.or(o).unwrap_or_default());
            let (before, after) = (o.map(|o| &old[o]), n.map(|n| &new[n]));
            self.child(path, step, element, before, after, ELEMENTS);
        }
    }

    /// A structure's members (or an object the model does not describe): a member gone is
    /// breaking, a new one additive; `null` is absent.
    fn members<'j, 'v>(
        &mut self,
        path: &mut Vec<Step>,
        shape: Option<&Shape>,
        old: &'j Object<'v>,
        new: &'j Object<'v>,
    ) {
        let member_shape = |name: &str| match shape.map(|shape| &shape.kind) {
            Some(Kind::Structure { members, .. }) => (members.iter())
                .find(|member| member.name == name)
                .map(|member| ssm().shape(member.shape)),
            _ => None,
        };
        let present = |value: Option<&'j Json<'v>>| value.filter(|v| !matches!(v, Json::Null));
        // Members the old answer has first, then those only the new one has, null being absent.
        let old_members = old
            .iter()
            .filter(|(_, value)| present(Some(*value)).is_some());
        let new_only = new
            .iter()
            .filter(|(name, _)| present(old.get(name)).is_none());
        let names = old_members.chain(new_only).map(|(name, _)| name);
        for name in names {
            let step = Step::Member(name.to_owned());
            let (before, after) = (present(old.get(name)), present(new.get(name)));
            self.child(path, step, member_shape(name), before, after, MEMBERS);
        }
    }

    /// A map's entries: its keys are data, so one gone or new is a value change.
    fn entries(
        &mut self,
        path: &mut Vec<Step>,
        value_shape: Option<&Shape>,
        old: &Object<'_>,
        new: &Object<'_>,
    ) {
        let new_only = new.iter().filter(|(key, _)| old.get(key).is_none());
        for (key, _) in old.iter().chain(new_only) {
            let step = Step::Entry(key.to_owned());
            let (before, after) = (old.get(key), new.get(key));
            self.child(path, step, value_shape, before, after, ENTRIES);
        }
    }

    /// One member, entry or element at `step` of `path`: compared when both sides have it,
    /// else reported as `unmatched` says.
    fn child(
        &mut self,
        path: &mut Vec<Step>,
        step: Step,
        shape: Option<&Shape>,
        old: Option<&Json<'_>>,
        new: Option<&Json<'_>>,
        unmatched: Unmatched,
    ) {
        path.push(step);
        match (old, new) {
            (Some(old), Some(new)) => self.values(path, shape, old, new),
            (Some(old), None) => {
                let old = Some(shown(shape, old));
                self.found(unmatched.gone, rendered(path), old, None);
            }
            (None, Some(new)) => {
                let new = Some(shown(shape, new));
                self.found(unmatched.added, rendered(path), None, new);
            }
            (None, None) => {}
        }
        path.pop();
    }

    /// A change of `class`: a value change goes through [`Self::value`], which may hide it.
    fn found(
        &mut self,
        (class, reason): (Class, Reason),
        path: String,
        old: Option<String>,
        new: Option<String>,
    ) {
        match class {
            Class::Value => self.value(reason, path, old, new),
            Class::Breaking | Class::Additive => self.change_at(class, reason, path, old, new),
        }
    }

    /// A value change: shown when all values are asked for or a waiter reads it, else counted.
    fn value(&mut self, reason: Reason, path: String, old: Option<String>, new: Option<String>) {
        if self.read_by_waiter(&path) {
            self.change_at(Class::Value, Reason::WaiterReads, path, old, new);
        } else if self.all_values {
            self.change_at(Class::Value, reason, path, old, new);
        } else {
            self.hidden += 1;
        }
    }

    fn read_by_waiter(&self, path: &str) -> bool {
        self.waiters_read.iter().any(|read| reads(read, path))
    }

    fn change(&mut self, class: Class, reason: Reason, path: &str, old: String, new: String) {
        self.change_at(class, reason, path.to_owned(), Some(old), Some(new));
    }

    fn change_at(
        &mut self,
        class: Class,
        reason: Reason,
        path: String,
        old: Option<String>,
        new: Option<String>,
    ) {
        self.changes.push(Change {
            class,
            reason,
            path,
            old,
            new,
        });
    }
}

/// The member that tells a list's objects apart, when one does: a string member every object
/// of both lists has, with no value twice in either list (`Name`, `WindowTaskId`), and that
/// pairs the most elements (at least one; the first in key order on a tie).
fn identifying_member<'j>(old: &'j [Json<'_>], new: &[Json<'_>]) -> Option<&'j str> {
    let Some(Json::Object(first)) = old.first() else {
        return None;
    };
    let ids = |items: &[Json<'_>], name: &str| -> Option<Vec<String>> {
        let mut ids: Vec<String> = Vec::with_capacity(items.len());
        for item in items {
            let id = item.get(name).and_then(Json::as_str)?;
            if ids.iter().any(|seen| seen == id) {
                return None;
            }
            ids.push(id.to_owned());
        }
        Some(ids)
    };
    let mut best: Option<(&str, usize)> = None;
    for (name, _) in first.iter() {
        let (Some(old_ids), Some(new_ids)) = (ids(old, name), ids(new, name)) else {
            continue;
        };
        let paired = old_ids.iter().filter(|id| new_ids.contains(id)).count();
        if paired > best.map_or(0, |(_, most)| most) {
            best = Some((name, paired));
        }
    }
    best.map(|(name, _)| name)
}

/// The error shape of a recorded answer, as botocore reads it.
fn error_of(response: &RecordedResponse) -> Option<String> {
    let status = response.status().ok()?;
    let headers = response.header_map().unwrap_or_default();
    let body = response.body.to_bytes().unwrap_or_default();
    error_type(status, &headers, &body)
}

/// A value as a report prints it: compact JSON, bounded; never a sensitive one.
pub(crate) fn shown(shape: Option<&Shape>, value: &Json<'_>) -> String {
    if shape.is_some_and(|shape| shape.holds_sensitive) {
        return "(sensitive)".to_owned();
    }
    printable(&value.to_string(), MAX_VALUE_CHARS)
}

/// `response.Tasks[0].TaskArn`, `request.Parameters["key"]`.
fn rendered(path: &[Step]) -> String {
    let mut text = String::new();
    for step in path {
        match step {
            Step::Root(root) => text.push_str(root),
            Step::Member(name) => {
                text.push('.');
                text.push_str(name);
            }
            Step::Element(index) => text.push_str(&format!("[{index}]")),
            Step::Entry(key) => text.push_str(&format!("[{key:?}]")),
        }
    }
    text
}

/// Whether a waiter reading `read` (`Reservations[].Instances[].State`) reads at `path`
/// (`response.Reservations[0].Instances[1].State.Name`).
fn reads(read: &str, path: &str) -> bool {
    let Some(path) = path.strip_prefix("response.") else {
        return false;
    };
    // Indices read as JMESPath's flatten.
    let mut flattened = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                flattened.push_str("[]");
            }
            ']' => in_index = false,
            _ if in_index => {}
            _ => flattened.push(c),
        }
    }
    flattened == read
        || flattened
            .strip_prefix(read)
            .is_some_and(|rest| rest.starts_with(['.', '[']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_path_reads_whatever_sits_under_it() {
        assert!(reads("Status", "response.Status"));
        assert!(reads(
            "Reservations[].Instances[].State",
            "response.Reservations[0].Instances[2].State.Name"
        ));
        assert!(!reads("Status", "response.StatusDetails"));
        assert!(!reads("Status", "request.Status"));
    }
}
