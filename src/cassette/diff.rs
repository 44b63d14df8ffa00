//! `ssm-vcr cassette diff`: what changed between two recordings of a flow, each change classed
//! by the SSM model.
//!
//! Interactions are paired by their matching key (operation, region, request body without
//! what matching ignores), in order: the n-th call with a key in the old cassette pairs with
//! the n-th with that key in the new one. Those left pair by operation and region, in order,
//! and their requests are compared too: two recordings of one flow send ids AWS generated
//! anew. Interactions still left were removed or added. In a pair:
//!
//! - **breaking**: the status or the error changed, a member is gone, a value changed type;
//! - **additive**: a new member, or an enum value the model does not list;
//! - **value**: a changed value. Shown for enum members and what the operation's waiters read,
//!   counted but hidden otherwise (timestamps, ids), unless all values are asked for.
//!
//! `recorded_at`, request ids and renumbered placeholders are never differences. This module
//! compares; `diff_report.rs` renders. It neither reads nor writes files.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use super::format::{Cassette, Interaction, RecordedResponse};
use super::matching::{IgnoreRules, KeyRef, MatchKey};
use super::placeholder::is_placeholder;
use super::replay::error_type;
use crate::aws::model::waiters::paths_read;
use crate::aws::model::{Kind, Operation, Shape, ssm};
use crate::json::{Json, Object};
use crate::text::printable;

/// How much a change matters to a client, by the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// A client that read the old answer may fail on the new one.
    Breaking,
    /// Something new a client can ignore.
    Additive,
    /// The same member with another value.
    Value,
}

impl Class {
    /// The class's name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Breaking => "breaking",
            Self::Additive => "additive",
            Self::Value => "value",
        }
    }
}

/// What changed at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The HTTP status.
    StatusChanged,
    /// The AWS error shape of the answer.
    ErrorChanged,
    /// A member present before is absent.
    MemberRemoved,
    /// A member absent before is present.
    MemberAdded,
    /// A value of another JSON type.
    TypeChanged,
    /// A value the model's enum does not list.
    UnknownEnumValue,
    /// Another value of an enum the model lists.
    EnumValueChanged,
    /// Another value where a waiter of the operation reads.
    WaiterReads,
    /// Another value.
    ValueChanged,
    /// A body that is not JSON, with other bytes.
    BodyChanged,
    /// A list element the other side lacks.
    ElementRemoved,
    /// A list element the old side lacked.
    ElementAdded,
    /// A recorded member this build's model does not have (`verify --offline`).
    MemberNotInModel,
    /// A member this build's model requires, absent from a recorded request.
    RequiredMissing,
    /// A recorded operation this build's model does not have.
    OperationNotInModel,
}

impl Reason {
    /// What a report says of it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StatusChanged => "status changed",
            Self::ErrorChanged => "error changed",
            Self::MemberRemoved => "member removed",
            Self::MemberAdded => "member added",
            Self::TypeChanged => "type changed",
            Self::UnknownEnumValue => "value not in the model's enum",
            Self::EnumValueChanged => "enum value changed",
            Self::WaiterReads => "read by a waiter",
            Self::ValueChanged => "value changed",
            Self::BodyChanged => "body changed",
            Self::ElementRemoved => "element removed",
            Self::ElementAdded => "element added",
            Self::MemberNotInModel => "member not in the model",
            Self::RequiredMissing => "required member missing",
            Self::OperationNotInModel => "operation not in the model",
        }
    }
}

/// One difference in a pair's responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// How much it matters.
    pub class: Class,
    /// What changed.
    pub reason: Reason,
    /// Where: `status`, `error`, `repeat`, `response.Tasks[0].TaskArn` or `request.WindowId`.
    pub path: String,
    /// The old value as compact JSON, bounded; absent when the member was.
    pub old: Option<String>,
    /// The new value likewise.
    pub new: Option<String>,
}

impl Change {
    /// What a report says of it after its path: `member removed (was "x")`, `enum value
    /// changed: "a" → "b"`.
    pub fn describe(&self) -> String {
        let reason = self.reason.as_str();
        match (&self.old, &self.new) {
            (Some(old), Some(new)) => format!("{reason}: {old} → {new}"),
            (Some(old), None) => format!("{reason} (was {old})"),
            (None, Some(new)) => format!("{reason}: {new}"),
            (None, None) => reason.to_owned(),
        }
    }
}

/// An interaction that only one side has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unpaired {
    /// Its index in its cassette, from 0.
    pub index: usize,
    /// Its operation.
    pub operation: String,
    /// Its region.
    pub region: String,
}

/// A pair whose responses differ in what is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pair {
    /// The operation.
    pub operation: String,
    /// The region.
    pub region: String,
    /// Its index in the old cassette.
    pub old_index: usize,
    /// Its index in the new cassette.
    pub new_index: usize,
    /// What changed, in the order met.
    pub changes: Vec<Change>,
}

/// Everything a diff found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CassetteDiff {
    /// Interactions only the old cassette has.
    pub removed: Vec<Unpaired>,
    /// Interactions only the new cassette has.
    pub added: Vec<Unpaired>,
    /// Pairs with a change shown.
    pub changed: Vec<Pair>,
    /// Value changes counted but not shown.
    pub hidden_values: usize,
}

impl CassetteDiff {
    /// Whether nothing is reported (hidden values aside).
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty() && self.changed.is_empty()
    }

    /// How many changes of `class` are shown.
    pub fn count(&self, class: Class) -> usize {
        (self.changed.iter().flat_map(|pair| &pair.changes))
            .filter(|change| change.class == class)
            .count()
    }
}

/// Compares two cassettes; `all_values` shows every value change.
pub fn diff(old: &Cassette, new: &Cassette, all_values: bool) -> CassetteDiff {
    let rules = IgnoreRules::default();
    let keys = |cassette: &Cassette| -> Vec<MatchKey> {
        (cassette.interactions.iter())
            .map(|i| MatchKey::new(&i.operation, &i.region, &i.request.body, &rules))
            .collect()
    };
    let (old_keys, new_keys) = (keys(old), keys(new));
    let pairing = Pairing::of(&old_keys, &new_keys);
    let mut found = CassetteDiff::default();
    for &(old_index, new_index, same_request) in &pairing.pairs {
        let (before, after) = (&old.interactions[old_index], &new.interactions[new_index]);
        let mut comparison = Comparison::new(&before.operation, all_values);
        if !same_request {
            comparison.requests(&old_keys[old_index], &new_keys[new_index]);
        }
        comparison.responses(before, after);
        comparison.repeats(before, after);
        found.hidden_values += comparison.hidden;
        if !comparison.changes.is_empty() {
            found.changed.push(Pair {
                operation: before.operation.clone(),
                region: before.region.clone(),
                old_index,
                new_index,
                changes: comparison.changes,
            });
        }
    }
    found.changed.sort_by_key(|pair| pair.new_index);
    let left = |indices: &[usize], cassette: &Cassette| -> Vec<Unpaired> {
        (indices.iter())
            .map(|&index| unpaired(index, &cassette.interactions[index]))
            .collect()
    };
    found.removed = left(&pairing.old_left, old);
    found.added = left(&pairing.new_left, new);
    found
}

/// Which interactions of two cassettes pair, by their matching keys.
struct Pairing {
    /// Old index, new index, and whether their requests are the same.
    pairs: Vec<(usize, usize, bool)>,
    /// Old interactions with no partner, in order.
    old_left: Vec<usize>,
    /// New interactions with no partner, in order.
    new_left: Vec<usize>,
}

impl Pairing {
    /// The same request first, then the same operation and region, each in order.
    fn of(old_keys: &[MatchKey], new_keys: &[MatchKey]) -> Self {
        let mut pairs = Vec::new();
        let mut by_key: HashMap<KeyRef<'_>, VecDeque<usize>> = HashMap::new();
        for (index, key) in new_keys.iter().enumerate() {
            by_key.entry(key.as_ref()).or_default().push_back(index);
        }
        let mut old_left = Vec::new();
        for (old_index, key) in old_keys.iter().enumerate() {
            match by_key.get_mut(&key.as_ref()).and_then(VecDeque::pop_front) {
                Some(new_index) => pairs.push((old_index, new_index, true)),
                None => old_left.push(old_index),
            }
        }
        let mut paired = vec![false; new_keys.len()];
        for &(_, new_index, _) in &pairs {
            paired[new_index] = true;
        }
        let mut by_call: HashMap<(&str, &str), VecDeque<usize>> = HashMap::new();
        for (index, key) in new_keys.iter().enumerate().filter(|(i, _)| !paired[*i]) {
            let call = (key.operation(), key.region());
            by_call.entry(call).or_default().push_back(index);
        }
        old_left.retain(|&old_index| {
            let key = &old_keys[old_index];
            let call = (key.operation(), key.region());
            match by_call.get_mut(&call).and_then(VecDeque::pop_front) {
                Some(new_index) => {
                    paired[new_index] = true;
                    pairs.push((old_index, new_index, false));
                    false
                }
                None => true,
            }
        });
        let new_left = (0..new_keys.len()).filter(|&i| !paired[i]).collect();
        Self {
            pairs,
            old_left,
            new_left,
        }
    }
}

/// The changes between a recorded answer and another answer to the same request (a live one,
/// for `verify`), and how many value changes were counted but not shown.
pub fn answers(
    recorded: &Interaction,
    other: &Interaction,
    all_values: bool,
) -> (Vec<Change>, usize) {
    let mut comparison = Comparison::new(&recorded.operation, all_values);
    comparison.responses(recorded, other);
    (comparison.changes, comparison.hidden)
}

fn unpaired(index: usize, interaction: &Interaction) -> Unpaired {
    Unpaired {
        index,
        operation: interaction.operation.clone(),
        region: interaction.region.clone(),
    }
}

/// One step of a path into a body.
enum Step {
    /// `request` or `response`.
    Root(&'static str),
    Member(String),
    Element(usize),
    Entry(String),
}

/// The comparison of one pair.
struct Comparison {
    operation: Option<Operation>,
    /// What the operation's waiters read, as JMESPath.
    waiters_read: Vec<String>,
    all_values: bool,
    changes: Vec<Change>,
    hidden: usize,
}

/// Longest value a change prints.
const MAX_VALUE_CHARS: usize = 80;

impl Comparison {
    fn new(operation: &str, all_values: bool) -> Self {
        Self {
            operation: Operation::named(operation),
            waiters_read: paths_read(operation),
            all_values,
            changes: Vec::new(),
            hidden: 0,
        }
    }

    /// The requests of a pair that matching told apart, without what matching ignores.
    fn requests(&mut self, old: &MatchKey, new: &MatchKey) {
        let input = (self.operation)
            .and_then(|op| op.input())
            .map(|id| ssm().shape(id));
        let mut path = vec![Step::Root("request")];
        self.values(&mut path, input, old.body(), new.body());
    }

    fn responses(&mut self, old: &Interaction, new: &Interaction) {
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
    fn repeats(&mut self, old: &Interaction, new: &Interaction) {
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
            (Json::String(_), Json::String(text)) => {
                let listed = match kind {
                    Some(Kind::String { enumeration, .. }) if !enumeration.is_empty() => {
                        Some(enumeration.iter().any(|value| value == text))
                    }
                    _ => None,
                };
                let (old, new) = (shown(shape, old), shown(shape, new));
                let path = rendered(path);
                let (old, new) = (Some(old), Some(new));
                match listed {
                    Some(false) => {
                        self.change_at(Class::Additive, Reason::UnknownEnumValue, path, old, new);
                    }
                    Some(true) if !self.read_by_waiter(&path) => {
                        self.change_at(Class::Value, Reason::EnumValueChanged, path, old, new);
                    }
                    _ => self.value(Reason::ValueChanged, path, old, new),
                }
            }
            (Json::Number(_), Json::Number(_)) | (Json::Bool(_), Json::Bool(_)) => {
                let (old, new) = (shown(shape, old), shown(shape, new));
                self.value(Reason::ValueChanged, rendered(path), Some(old), Some(new));
            }
            _ => {
                let (old, new) = (shown(shape, old), shown(shape, new));
                self.change_at(
                    Class::Breaking,
                    Reason::TypeChanged,
                    rendered(path),
                    Some(old),
                    Some(new),
                );
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
        for pair in pairs {
            match pair {
                (Some(o), Some(n)) => {
                    path.push(Step::Element(n));
                    self.values(path, element, &old[o], &new[n]);
                    path.pop();
                }
                (Some(o), None) => {
                    path.push(Step::Element(o));
                    let gone = shown(element, &old[o]);
                    self.value(Reason::ElementRemoved, rendered(path), Some(gone), None);
                    path.pop();
                }
                (None, Some(n)) => {
                    path.push(Step::Element(n));
                    let added = shown(element, &new[n]);
                    self.value(Reason::ElementAdded, rendered(path), None, Some(added));
                    path.pop();
                }
                (None, None) => {}
            }
        }
    }

    /// A structure's members (or an object the model does not describe): a member gone is
    /// breaking, a new one additive; `null` is absent.
    fn members(
        &mut self,
        path: &mut Vec<Step>,
        shape: Option<&Shape>,
        old: &Object<'_>,
        new: &Object<'_>,
    ) {
        let member_shape = |name: &str| match shape.map(|shape| &shape.kind) {
            Some(Kind::Structure { members, .. }) => (members.iter())
                .find(|member| member.name == name)
                .map(|member| ssm().shape(member.shape)),
            _ => None,
        };
        let present =
            |value: Option<&Json<'_>>| value.filter(|v| !matches!(v, Json::Null)).is_some();
        for (name, before) in old.iter() {
            let after = new.get(name);
            path.push(Step::Member(name.to_owned()));
            let shape = member_shape(name);
            match after {
                Some(after) if present(Some(after)) && present(Some(before)) => {
                    self.values(path, shape, before, after);
                }
                _ if present(Some(before)) => {
                    let old = shown(shape, before);
                    self.change_at(
                        Class::Breaking,
                        Reason::MemberRemoved,
                        rendered(path),
                        Some(old),
                        None,
                    );
                }
                _ => {}
            }
            path.pop();
        }
        for (name, after) in new.iter() {
            if present(old.get(name)) || !present(Some(after)) {
                continue;
            }
            path.push(Step::Member(name.to_owned()));
            let new = shown(member_shape(name), after);
            self.change_at(
                Class::Additive,
                Reason::MemberAdded,
                rendered(path),
                None,
                Some(new),
            );
            path.pop();
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
        for (key, before) in old.iter() {
            path.push(Step::Entry(key.to_owned()));
            match new.get(key) {
                Some(after) => self.values(path, value_shape, before, after),
                None => {
                    let old = shown(value_shape, before);
                    self.value(Reason::ValueChanged, rendered(path), Some(old), None);
                }
            }
            path.pop();
        }
        for (key, after) in new.iter().filter(|(key, _)| old.get(key).is_none()) {
            path.push(Step::Entry(key.to_owned()));
            let new = shown(value_shape, after);
            self.value(Reason::ValueChanged, rendered(path), None, Some(new));
            path.pop();
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
fn shown(shape: Option<&Shape>, value: &Json<'_>) -> String {
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
    use serde_json::{Value, json};

    use super::*;

    /// A cassette of `(operation, request, status, response)`, each answer with its own
    /// request id and time.
    fn cassette(interactions: &[(&str, Value, u16, Value)]) -> Cassette {
        let interactions: Vec<Value> = (interactions.iter().enumerate())
            .map(|(index, (operation, request, status, response))| {
                let mut headers = json!({"x-amzn-requestid": format!("id-{index}-{}", rand_like(response))});
                if let Some(error) = response.get("__type") {
                    headers["x-amzn-errortype"] = error.clone();
                }
                json!({
                    "operation": operation,
                    "region": "us-east-1",
                    "recorded_at": format!("2026-12-0{}T00:00:00Z", index % 9 + 1),
                    "request": {"body": request},
                    "response": {"status": status, "headers": headers, "body": {"utf8": response.to_string()}},
                })
            })
            .collect();
        let file = json!({"version": 1, "interactions": interactions});
        Cassette::from_json(file.to_string().as_bytes()).unwrap()
    }

    /// A request id that differs with the answer, as AWS's do between recordings.
    fn rand_like(response: &Value) -> usize {
        response.to_string().len()
    }

    fn parameter(kind: &str, modified: f64, extra: Value) -> Value {
        let mut parameter =
            json!({"Name": "/app/url", "Type": kind, "LastModifiedDate": modified, "Version": 1});
        for (key, value) in extra.as_object().unwrap() {
            parameter[key] = value.clone();
        }
        json!({"Parameters": [parameter]})
    }

    fn describe(response: Value) -> (&'static str, Value, u16, Value) {
        (
            "DescribeParameters",
            json!({"MaxResults": 10}),
            200,
            response,
        )
    }

    fn changes(diff: &CassetteDiff) -> Vec<(Class, Reason, &str)> {
        (diff.changed.iter().flat_map(|pair| &pair.changes))
            .map(|change| (change.class, change.reason, change.path.as_str()))
            .collect()
    }

    #[test]
    fn a_cassette_against_itself_or_a_re_recording_that_moved_only_times_and_ids_is_no_difference()
    {
        let old = cassette(&[describe(parameter("String", 1.7e9, json!({})))]);
        assert!(diff(&old, &old, true).is_empty());
        let new = cassette(&[describe(parameter("String", 1.8e9, json!({})))]);
        let found = diff(&old, &new, false);
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(found.hidden_values, 1, "the timestamp, counted");
        let all = diff(&old, &new, true);
        assert_eq!(
            changes(&all),
            [(
                Class::Value,
                Reason::ValueChanged,
                "response.Parameters[0].LastModifiedDate"
            )]
        );
    }

    #[test]
    fn each_change_is_classed_by_the_model() {
        let old = cassette(&[
            describe(parameter(
                "String",
                1.7e9,
                json!({"Tier": "Standard", "Version": 1}),
            )),
            (
                "GetCommandInvocation",
                json!({"CommandId": "c", "InstanceId": "i-1"}),
                200,
                json!({"Status": "InProgress"}),
            ),
            (
                "GetParameter",
                json!({"Name": "/a"}),
                200,
                json!({"Parameter": {"Name": "/a"}}),
            ),
        ]);
        let new = cassette(&[
            describe(parameter(
                "Strange",
                1.7e9,
                json!({"Version": "1", "DataType": "text"}),
            )),
            (
                "GetCommandInvocation",
                json!({"CommandId": "c", "InstanceId": "i-1"}),
                200,
                json!({"Status": "Success"}),
            ),
            (
                "GetParameter",
                json!({"Name": "/a"}),
                400,
                json!({"__type": "ParameterNotFound"}),
            ),
        ]);
        let found = diff(&old, &new, false);
        assert_eq!(
            changes(&found),
            [
                (
                    Class::Breaking,
                    Reason::MemberRemoved,
                    "response.Parameters[0].Tier"
                ),
                (
                    Class::Additive,
                    Reason::UnknownEnumValue,
                    "response.Parameters[0].Type"
                ),
                (
                    Class::Breaking,
                    Reason::TypeChanged,
                    "response.Parameters[0].Version"
                ),
                (
                    Class::Additive,
                    Reason::MemberAdded,
                    "response.Parameters[0].DataType"
                ),
                (Class::Value, Reason::WaiterReads, "response.Status"),
                (Class::Breaking, Reason::StatusChanged, "status"),
                (Class::Breaking, Reason::ErrorChanged, "error"),
            ]
        );
        let error = &found.changed[2].changes[1];
        assert_eq!(
            (error.old.as_deref(), error.new.as_deref()),
            (Some("none"), Some("ParameterNotFound"))
        );
    }

    #[test]
    fn an_enum_value_the_model_lists_is_shown_and_other_values_hidden() {
        let old = cassette(&[describe(parameter(
            "String",
            1.7e9,
            json!({"Description": "a"}),
        ))]);
        let new = cassette(&[describe(parameter(
            "SecureString",
            1.7e9,
            json!({"Description": "b"}),
        ))]);
        let found = diff(&old, &new, false);
        assert_eq!(
            changes(&found),
            [(
                Class::Value,
                Reason::EnumValueChanged,
                "response.Parameters[0].Type"
            )]
        );
        assert_eq!(found.hidden_values, 1);
        let change = &found.changed[0].changes[0];
        assert_eq!(change.old.as_deref(), Some(r#""String""#));
        assert_eq!(change.new.as_deref(), Some(r#""SecureString""#));
    }

    #[test]
    fn tokens_placeholders_and_sensitive_values_are_never_differences_nor_shown() {
        // aws-cli sends a new ClientToken each run; placeholders are numbered per cassette.
        let create = |token: &str, description: &str| {
            let window = json!({
                "Name": "nightly", "Schedule": "rate(1 day)", "Duration": 2, "Cutoff": 1,
                "AllowUnassociatedTargets": false, "ClientToken": token, "Description": description,
            });
            (
                "CreateMaintenanceWindow",
                window,
                200,
                json!({"WindowId": "mw-0c50858d01e8a7b6f"}),
            )
        };
        let old = cassette(&[create("t-1", "REDACTED-1")]);
        let new = cassette(&[create("t-2", "REDACTED-4")]);
        let found = diff(&old, &new, true);
        assert!(found.is_empty(), "{found:?}");

        let get = |value: &str| {
            (
                "GetParameter",
                json!({"Name": "/db"}),
                200,
                json!({"Parameter": {"Name": "/db", "Value": value}}),
            )
        };
        let found = diff(
            &cassette(&[get("old-secret")]),
            &cassette(&[get("new-secret")]),
            true,
        );
        assert_eq!(
            found.changed[0].changes[0].old.as_deref(),
            Some("(sensitive)")
        );
        assert_eq!(
            found.changed[0].changes[0].new.as_deref(),
            Some("(sensitive)")
        );
    }

    #[test]
    fn calls_pair_by_request_then_by_operation_in_order_and_the_rest_are_added_or_removed() {
        let deregister = |window: &str| {
            (
                "DeregisterTaskFromMaintenanceWindow",
                json!({"WindowId": window, "WindowTaskId": "t"}),
                200,
                json!({}),
            )
        };
        let delete = (
            "DeleteMaintenanceWindow",
            json!({"WindowId": "mw-1"}),
            200,
            json!({}),
        );
        let old = cassette(&[deregister("mw-1"), deregister("mw-1"), delete.clone()]);
        let new = cassette(&[deregister("mw-2"), deregister("mw-1")]);
        let found = diff(&old, &new, true);
        assert_eq!(found.added, []);
        assert_eq!(
            found.removed,
            [Unpaired {
                index: 2,
                operation: "DeleteMaintenanceWindow".into(),
                region: "us-east-1".into()
            }]
        );
        // The same request pairs first (old #0 with new #1); the rest by operation.
        assert_eq!(found.changed.len(), 1);
        let pair = &found.changed[0];
        assert_eq!((pair.old_index, pair.new_index), (1, 0));
        assert_eq!(
            changes(&found),
            [(Class::Value, Reason::ValueChanged, "request.WindowId")]
        );
    }

    #[test]
    fn list_elements_pair_by_the_member_that_names_them_so_an_insertion_is_one_element_added() {
        let listed = |parameters: Value| describe(json!({"Parameters": parameters}));
        let a = json!({"Name": "/a", "Type": "String", "Tier": "Standard"});
        let b = json!({"Name": "/b", "Type": "String"});
        let c = json!({"Name": "/c", "Type": "String"});
        let old = cassette(&[listed(json!([a, b]))]);
        let new = cassette(&[listed(json!([c, a, b]))]);
        // By position, /a against /c would have lost its Tier: a breaking change that is not.
        let found = diff(&old, &new, true);
        assert_eq!(
            changes(&found),
            [(Class::Value, Reason::ElementAdded, "response.Parameters[0]")]
        );
        assert_eq!(found.count(Class::Breaking), 0);
        // Without a member that names them, elements pair by position.
        let old = cassette(&[listed(json!([{"Type": "String"}]))]);
        let new = cassette(&[listed(json!([{"Type": "String"}, {"Type": "String"}]))]);
        assert_eq!(
            changes(&diff(&old, &new, true)),
            [(Class::Value, Reason::ElementAdded, "response.Parameters[1]")]
        );
    }

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
