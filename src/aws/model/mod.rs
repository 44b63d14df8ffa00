//! AWS's own model of the SSM API: botocore's `service-2.json`, vendored in `model/ssm/` at a
//! pinned botocore version, compiled into the binary and read once, on first use.
//!
//! The model is the proxy's whole knowledge of SSM: which operations exist ([`Operation`]),
//! every input constraint ([`validate`], in AWS's Coral wording), which shapes are
//! `sensitive` and which members are idempotency tokens ([`walk`], for redaction and
//! matching). No operation is named in code. This module reads requests' JSON; it does not
//! parse envelopes, build responses or touch cassettes.

mod load;
pub mod pattern;
pub mod validate;
pub mod waiters;
pub mod walk;
#[cfg(test)]
mod whole_model_tests;

use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock};

use hashbrown::HashTable;

use sha2::{Digest, Sha256};

use self::pattern::Pattern;
pub use self::validate::Rejection;

/// The vendored model file, exactly as botocore ships it.
const SERVICE_JSON: &str = include_str!("../../../model/ssm/service-2.json");

/// The botocore release the model was taken from (`scripts/update-ssm-model` writes it).
const BOTOCORE_VERSION: &str = include_str!("../../../model/ssm/BOTOCORE_VERSION");

static SSM: LazyLock<ServiceModel> =
    LazyLock::new(|| load::parse(SERVICE_JSON).expect("the vendored SSM model parses"));

/// The SSM service model, read on first use (a few milliseconds; see docs/BENCHMARKS.md).
pub fn ssm() -> &'static ServiceModel {
    &SSM
}

/// Which model a cassette was written with: the botocore release and the SHA-256 of the model
/// file, so a reviewer can tell whether two recordings were judged by the same rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The botocore version, e.g. `1.44.8`.
    pub botocore: &'static str,
    /// Lower-case hex SHA-256 of `model/ssm/service-2.json`.
    pub sha256: &'static str,
}

/// The vendored model's provenance.
pub fn provenance() -> &'static Provenance {
    static PROVENANCE: LazyLock<Provenance> = LazyLock::new(|| Provenance {
        botocore: BOTOCORE_VERSION.trim(),
        sha256: hex::encode(Sha256::digest(SERVICE_JSON.as_bytes())).leak(),
    });
    &PROVENANCE
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "botocore {} (sha256 {})", self.botocore, self.sha256)
    }
}

/// Whether `name` has the shape of a Smithy operation name, `[A-Za-z][A-Za-z0-9]*` and at most
/// 128 characters, whether or not this model has it.
pub fn is_operation_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
        && name.len() <= 128
}

/// A whole service: its operations by name and the shapes they are built from.
#[derive(Debug)]
pub struct ServiceModel {
    /// Sorted by name; an operation's place here is its [`Operation::index`].
    operations: Vec<OperationModel>,
    /// Places in `operations` by the hash of the name: every call looks its target up.
    by_name: HashTable<usize>,
    name_hasher: foldhash::fast::FixedState,
    shapes: Vec<Shape>,
}

/// Where a shape lives in [`ServiceModel`]'s table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapeId(usize);

/// One operation: its name and its input and output shapes.
#[derive(Debug)]
pub struct OperationModel {
    name: String,
    /// Its place in the model's operations, sorted by name.
    index: usize,
    input: Option<ShapeId>,
    output: Option<ShapeId>,
}

/// A known SSM operation: a cheap handle on the model's entry, so every stage of a call can
/// name it without copying.
#[derive(Debug, Clone, Copy)]
pub struct Operation(&'static OperationModel);

impl Operation {
    /// The operation called `name` in the SSM model, if there is one.
    pub fn named(name: &str) -> Option<Self> {
        ssm().operation(name).map(Self)
    }

    /// The operation name, as in `X-Amz-Target: AmazonSSM.<name>`.
    pub fn as_str(&self) -> &'static str {
        &self.0.name
    }

    /// Its place among the model's operations sorted by name, below the model's
    /// `operation_count`: a table can be indexed by operation.
    pub fn index(&self) -> usize {
        self.0.index
    }

    /// The input shape, if the operation takes one.
    pub fn input(&self) -> Option<ShapeId> {
        self.0.input
    }

    /// The output shape, if the operation returns one.
    pub fn output(&self) -> Option<ShapeId> {
        self.0.output
    }

    /// The input members that say what a call is about: the required strings that are neither
    /// sensitive nor idempotency tokens (`WindowId` and `WindowTaskId` of a deregistration).
    pub fn identifying_members(&self) -> impl Iterator<Item = &'static str> {
        let model = ssm();
        let members = match self.input().map(|id| &model.shape(id).kind) {
            Some(Kind::Structure { members, .. }) => members.as_slice(),
            _ => &[],
        };
        members
            .iter()
            .filter(|member| member.required && !member.idempotency_token)
            .filter(move |member| {
                let shape = model.shape(member.shape);
                matches!(shape.kind, Kind::String { .. }) && !shape.sensitive
            })
            .map(|member| member.name.as_str())
    }
}

impl PartialEq for Operation {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for Operation {}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named shape with its kind and the traits the proxy acts on.
#[derive(Debug)]
pub struct Shape {
    /// The shape's name in the model (`WindowId`); only the harness's messages read it.
    #[cfg_attr(not(any(test, feature = "harness")), allow(dead_code))]
    pub name: String,
    /// What kind of value it is, with its constraints.
    pub kind: Kind,
    /// `sensitive`: its values are never echoed, logged or written.
    pub sensitive: bool,
    /// Whether this shape or anything inside it is sensitive.
    pub holds_sensitive: bool,
    /// Whether anything inside it is left out of the matching key (a sensitive value or an
    /// idempotency token).
    pub holds_unmatched: bool,
}

/// A shape's kind and its modeled constraints.
#[derive(Debug)]
pub enum Kind {
    /// A JSON object with named members (`union`: at most one is set).
    Structure {
        /// In model order, the order AWS reports errors in.
        members: Vec<Member>,
        /// A Smithy union; validation does not check it yet, the generated-input test reads
        /// it.
        #[cfg_attr(not(test), allow(dead_code))]
        union: bool,
    },
    /// A JSON array.
    List {
        /// The element shape.
        member: ShapeId,
        /// Element count bounds.
        length: Bounds,
    },
    /// A JSON object with free keys.
    Map {
        /// The key shape (a string).
        key: ShapeId,
        /// The value shape.
        value: ShapeId,
        /// Entry count bounds.
        length: Bounds,
    },
    /// A string.
    String {
        /// Length bounds, in characters.
        length: Bounds,
        /// The modeled pattern, matched as Java's `matches()` does.
        pattern: Option<Arc<Pattern>>,
        /// The allowed values, in model order.
        enumeration: Vec<String>,
    },
    /// An integer, long, float or double.
    Number {
        /// The smallest allowed value, as modeled.
        min: Option<serde_json::Number>,
        /// The largest allowed value, as modeled.
        max: Option<serde_json::Number>,
    },
    /// `true` or `false`.
    Boolean,
    /// Seconds since the epoch (a JSON number in awsJson1_1).
    Timestamp,
    /// Base64 text.
    Blob,
}

/// Length bounds of a string, list or map.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bounds {
    /// At least this many.
    pub min: Option<u64>,
    /// At most this many.
    pub max: Option<u64>,
}

/// A member of a structure.
#[derive(Debug)]
pub struct Member {
    /// The wire name (`WindowId`).
    pub name: String,
    /// Its name in AWS's messages (`windowId`: the first letter lowered).
    pub message_name: String,
    /// Its shape.
    pub shape: ShapeId,
    /// `required`: absent or JSON null fails with `Member must not be null`.
    pub required: bool,
    /// `idempotencyToken`: differs on every run by design, so never matched on.
    pub idempotency_token: bool,
}

impl ServiceModel {
    /// The operation called `name`.
    fn operation(&self, name: &str) -> Option<&OperationModel> {
        let hash = self.name_hasher.hash_one(name);
        (self.by_name)
            .find(hash, |&index| self.operations[index].name == name)
            .map(|&index| &self.operations[index])
    }

    /// How many operations the model has.
    pub fn operation_count(&self) -> usize {
        self.operations.len()
    }

    /// Every operation, by name.
    pub fn operations(&'static self) -> impl Iterator<Item = Operation> {
        self.operations.iter().map(Operation)
    }

    /// The shape behind `id`.
    pub fn shape(&self, id: ShapeId) -> &Shape {
        &self.shapes[id.0]
    }

    /// Every shape, in no particular order.
    pub fn shapes(&self) -> impl Iterator<Item = &Shape> {
        self.shapes.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_model_is_botocore_1_44_8_with_154_operations_and_1360_shapes() {
        // Pinned so that refreshing the model is a conscious change (scripts/update-ssm-model).
        assert_eq!(provenance().botocore, "1.44.8");
        assert_eq!(ssm().operations().count(), 154);
        assert_eq!(ssm().shapes().count(), 1360);
        assert_eq!(ssm().shapes().filter(|s| s.sensitive).count(), 17);
    }

    #[test]
    fn a_call_is_identified_by_its_required_plain_strings() {
        let members = |name| {
            Operation::named(name)
                .unwrap()
                .identifying_members()
                .collect::<Vec<_>>()
        };
        // `Safe` is an optional boolean; `Value` of PutParameter is sensitive.
        assert_eq!(
            members("DeregisterTaskFromMaintenanceWindow"),
            ["WindowId", "WindowTaskId"]
        );
        assert_eq!(members("PutParameter"), ["Name"]);
        assert_eq!(members("DescribeMaintenanceWindows"), Vec::<&str>::new());
    }

    #[test]
    fn operations_are_found_by_exact_name_only() {
        let op = Operation::named("DeregisterTaskFromMaintenanceWindow").unwrap();
        assert_eq!(op.as_str(), "DeregisterTaskFromMaintenanceWindow");
        assert!(Operation::named("deregisterTaskFromMaintenanceWindow").is_none());
        assert!(Operation::named("NoSuchOperation").is_none());
        assert!(Operation::named("").is_none());
    }

    #[test]
    fn idempotency_tokens_come_from_the_model() {
        let tokens: Vec<_> = ssm()
            .shapes()
            .filter_map(|shape| match &shape.kind {
                Kind::Structure { members, .. } => Some(
                    members
                        .iter()
                        .filter(|m| m.idempotency_token)
                        .map(|m| format!("{}.{}", shape.name, m.name))
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(tokens.len(), 5, "{tokens:?}");
        assert!(tokens.contains(&"CreateMaintenanceWindowRequest.ClientToken".to_owned()));
    }
}
