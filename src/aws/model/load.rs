//! Reading botocore's `service-2.json` into a [`ServiceModel`]: shapes resolved into one
//! table, members kept in model order, and the traits that matter summed up per shape.
//!
//! Documentation, error shapes and HTTP bindings are skipped: awsJson1_1 has one route.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::pattern::Pattern;
use super::{Bounds, Kind, Member, OperationModel, ServiceModel, Shape, ShapeId};

#[derive(Deserialize)]
struct RawModel {
    operations: BTreeMap<String, RawOperation>,
    shapes: BTreeMap<String, RawShape>,
}

#[derive(Deserialize)]
struct RawOperation {
    input: Option<RawRef>,
    output: Option<RawRef>,
}

#[derive(Deserialize)]
struct RawRef {
    shape: String,
    #[serde(default, rename = "idempotencyToken")]
    idempotency_token: bool,
}

#[derive(Deserialize)]
struct RawShape {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    members: OrderedMembers,
    #[serde(default)]
    required: Vec<String>,
    member: Option<RawRef>,
    key: Option<RawRef>,
    value: Option<RawRef>,
    min: Option<serde_json::Number>,
    max: Option<serde_json::Number>,
    pattern: Option<String>,
    #[serde(default, rename = "enum")]
    enumeration: Vec<String>,
    #[serde(default)]
    sensitive: bool,
    #[serde(default)]
    union: bool,
}

/// A structure's members in the order the model lists them: AWS reports errors in that order,
/// and a map type would sort them.
#[derive(Default)]
struct OrderedMembers(Vec<(String, RawRef)>);

impl<'de> Deserialize<'de> for OrderedMembers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = OrderedMembers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of members")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    members.push(entry);
                }
                Ok(OrderedMembers(members))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

/// Parses a botocore service model.
pub(super) fn parse(json: &str) -> Result<ServiceModel, String> {
    let raw: RawModel = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let ids: HashMap<&str, ShapeId> = raw
        .shapes
        .keys()
        .enumerate()
        .map(|(i, name)| (name.as_str(), ShapeId(i)))
        .collect();
    let resolve = |target: &RawRef| {
        ids.get(target.shape.as_str())
            .copied()
            .ok_or_else(|| format!("unknown shape {}", target.shape))
    };
    let mut shapes = Vec::with_capacity(raw.shapes.len());
    // Shapes that share a pattern share its compiled matcher: 113 patterned shapes, 65 patterns.
    let mut patterns: HashMap<&str, Arc<Pattern>> = HashMap::new();
    for (name, shape) in &raw.shapes {
        let pattern = shape.pattern.as_deref().map(|text| {
            let shared = patterns
                .entry(text)
                .or_insert_with(|| Arc::new(Pattern::new(text)));
            Arc::clone(shared)
        });
        let kind = kind(name, shape, pattern, &resolve)?;
        shapes.push(Shape {
            name: name.clone(),
            kind,
            sensitive: shape.sensitive,
            holds_sensitive: shape.sensitive,
            holds_unmatched: false,
        });
    }
    sum_up_traits(&mut shapes);
    // A BTreeMap's order: sorted by name.
    let operations = (raw.operations.into_iter().enumerate())
        .map(|(index, (name, op))| {
            Ok(OperationModel {
                name,
                index,
                input: op.input.as_ref().map(&resolve).transpose()?,
                output: op.output.as_ref().map(&resolve).transpose()?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let name_hasher = foldhash::fast::FixedState::default();
    let mut by_name = HashTable::with_capacity(operations.len());
    for operation in &operations {
        let hash = |index: &usize| name_hasher.hash_one(&operations[*index].name);
        by_name.insert_unique(hash(&operation.index), operation.index, hash);
    }
    Ok(ServiceModel {
        operations,
        by_name,
        name_hasher,
        shapes,
    })
}

fn kind(
    name: &str,
    shape: &RawShape,
    pattern: Option<Arc<Pattern>>,
    resolve: &impl Fn(&RawRef) -> Result<ShapeId, String>,
) -> Result<Kind, String> {
    let length = || Bounds {
        min: shape.min.as_ref().and_then(serde_json::Number::as_u64),
        max: shape.max.as_ref().and_then(serde_json::Number::as_u64),
    };
    let missing = |what: &str| format!("shape {name} has no {what}");
    Ok(match shape.kind.as_str() {
        "structure" => Kind::Structure {
            members: shape
                .members
                .0
                .iter()
                .map(|(member, target)| {
                    Ok(Member {
                        message_name: lower_first(member),
                        name: member.clone(),
                        shape: resolve(target)?,
                        required: shape.required.contains(member),
                        idempotency_token: target.idempotency_token,
                    })
                })
                .collect::<Result<_, String>>()?,
            union: shape.union,
        },
        "list" => Kind::List {
            member: resolve(shape.member.as_ref().ok_or_else(|| missing("member"))?)?,
            length: length(),
        },
        "map" => Kind::Map {
            key: resolve(shape.key.as_ref().ok_or_else(|| missing("key"))?)?,
            value: resolve(shape.value.as_ref().ok_or_else(|| missing("value"))?)?,
            length: length(),
        },
        "string" => Kind::String {
            length: length(),
            pattern,
            enumeration: shape.enumeration.clone(),
        },
        "integer" | "long" | "float" | "double" => Kind::Number {
            min: shape.min.clone(),
            max: shape.max.clone(),
        },
        "boolean" => Kind::Boolean,
        "timestamp" => Kind::Timestamp,
        "blob" => Kind::Blob,
        other => return Err(format!("shape {name} has an unknown type {other}")),
    })
}

/// Marks every shape that holds a sensitive value or an idempotency token anywhere inside it.
/// Shapes can be recursive, so this repeats until nothing changes.
fn sum_up_traits(shapes: &mut [Shape]) {
    loop {
        let mut changed = false;
        for i in 0..shapes.len() {
            let children = children(&shapes[i].kind);
            let holds_sensitive =
                shapes[i].sensitive || children.iter().any(|child| shapes[child.0].holds_sensitive);
            let holds_token = matches!(&shapes[i].kind, Kind::Structure { members, .. }
                if members.iter().any(|m| m.idempotency_token));
            let holds_unmatched = holds_sensitive
                || holds_token
                || children.iter().any(|child| shapes[child.0].holds_unmatched);
            let shape = &mut shapes[i];
            if (shape.holds_sensitive, shape.holds_unmatched) != (holds_sensitive, holds_unmatched)
            {
                shape.holds_sensitive = holds_sensitive;
                shape.holds_unmatched = holds_unmatched;
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

/// The shapes directly inside a shape.
fn children(kind: &Kind) -> Vec<ShapeId> {
    match kind {
        Kind::Structure { members, .. } => members.iter().map(|m| m.shape).collect(),
        Kind::List { member, .. } => vec![*member],
        Kind::Map { key, value, .. } => vec![*key, *value],
        _ => Vec::new(),
    }
}

/// `WindowId` → `windowId`, the member spelling of AWS's validation messages.
fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}
