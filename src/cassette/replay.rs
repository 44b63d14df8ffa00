//! Replay state of one loaded cassette: a FIFO queue of recorded answers per matching key, and
//! the miss diagnostic naming the closest recorded request.
//!
//! Queues are found by the hash of their key, computed on the parsed body in place, and advance
//! with an atomic counter, so concurrent requests never take a lock here and two identical
//! requests never get the same answer. Loading files is `store.rs`'s job.

use std::fmt;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use hashbrown::HashTable;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;
use serde_json::Value;

use super::format::{Cassette, FormatError};
use super::matching::{Difference, IgnoreRules, KeyRef, MatchKey, differences};
use crate::aws::error::headers::X_AMZN_ERROR_TYPE;
use crate::aws::model::Operation;
use crate::json::Json;
use crate::report::{MissedCall, UnusedInteraction};

/// A recorded answer, ready to send.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The recorded status.
    pub status: StatusCode,
    /// The recorded headers that matter.
    pub headers: HeaderMap,
    /// The recorded body bytes.
    pub body: Bytes,
    /// The AWS error shape of an error answer, read once at load time.
    pub error_type: Option<String>,
}

impl Answer {
    fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        let error_type = error_type(status, &headers, &body);
        Self {
            status,
            headers,
            body,
            error_type,
        }
    }

    /// The HTTP response: recorded status, headers and body bytes (the body is shared, not
    /// copied).
    pub fn to_response(&self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
    }
}

/// The recorded answers to one key, as positions in the cassette, in recorded order.
#[derive(Debug)]
struct Queue {
    key: MatchKey,
    tracks: Vec<usize>,
    next: AtomicUsize,
}

/// What to do when every recorded answer of a key has been replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenExhausted {
    /// Answer with a replay miss (the default: a test that repeats a call more often than it
    /// was recorded is usually a test that changed).
    #[default]
    Miss,
    /// Replay the last recorded answer again.
    RepeatLast,
}

/// A loaded cassette with its replay queues.
#[derive(Debug)]
pub struct Tape {
    name: String,
    path: PathBuf,
    /// Every recorded answer, by position in the cassette.
    answers: Vec<Answer>,
    /// Queues by their key, found by the hash of a key borrowed from the live request.
    queues: HashTable<Queue>,
    key_hasher: foldhash::fast::RandomState,
    when_exhausted: WhenExhausted,
    rules: IgnoreRules,
}

/// A replayed answer and where it came from.
#[derive(Debug)]
pub struct Played<'a> {
    /// Position of the interaction in the cassette, from 0.
    pub index: usize,
    /// The answer to send.
    pub answer: &'a Answer,
}

impl Tape {
    /// Indexes a parsed cassette.
    pub fn new(
        name: &str,
        path: PathBuf,
        cassette: Cassette,
        rules: IgnoreRules,
        when_exhausted: WhenExhausted,
    ) -> Result<Self, FormatError> {
        let mut answers = Vec::with_capacity(cassette.interactions.len());
        let mut queues: HashTable<Queue> = HashTable::new();
        let key_hasher = foldhash::fast::RandomState::default();
        for (index, interaction) in cassette.interactions.into_iter().enumerate() {
            let bad = |reason: String| FormatError::Interaction { index, reason };
            let response = &interaction.response;
            answers.push(Answer::new(
                response.status().map_err(bad)?,
                response.header_map().map_err(bad)?,
                response.body.to_bytes().map_err(bad)?,
            ));
            let key = MatchKey::new(
                &interaction.operation,
                &interaction.region,
                &interaction.request.body,
                &rules,
            );
            let hash = key_hasher.hash_one(key.as_ref());
            let rehash = |queue: &Queue| key_hasher.hash_one(queue.key.as_ref());
            match queues.find_mut(hash, |queue| queue.key == key) {
                Some(queue) => queue.tracks.push(index),
                None => {
                    let queue = Queue {
                        key,
                        tracks: vec![index],
                        next: AtomicUsize::new(0),
                    };
                    queues.insert_unique(hash, queue, rehash);
                }
            }
        }
        Ok(Self {
            name: name.to_owned(),
            path,
            answers,
            queues,
            key_hasher,
            when_exhausted,
            rules,
        })
    }

    /// The next recorded answer for this request, or a miss explaining why there is none.
    pub fn play(
        &self,
        operation: Operation,
        region: &str,
        body: &Json<'_>,
    ) -> Result<Played<'_>, Box<ReplayMiss>> {
        let stripped = self.rules.strip(operation.input(), body);
        let wanted = KeyRef {
            operation: operation.as_str(),
            region,
            body: &stripped,
        };
        let Some(queue) = self.queue(wanted) else {
            let key = MatchKey::from(wanted);
            let closest = self.closest(&key);
            return Err(self.miss(&key, MissKind::NotRecorded { closest }));
        };
        let turn = queue.next.fetch_add(1, Ordering::Relaxed);
        let position = match (queue.tracks.get(turn), self.when_exhausted) {
            (Some(&index), _) => index,
            (None, WhenExhausted::RepeatLast) => {
                *queue.tracks.last().expect("queues are never empty")
            }
            (None, WhenExhausted::Miss) => {
                let recorded = queue.tracks.len();
                return Err(self.miss(&wanted.into(), MissKind::Exhausted { recorded }));
            }
        };
        Ok(Played {
            index: position,
            answer: &self.answers[position],
        })
    }

    /// How many interactions the cassette held when it was loaded.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Whether the cassette held no interaction.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// The recorded interactions no call has used yet, in cassette order.
    pub fn unused(&self) -> Vec<UnusedInteraction> {
        let mut unused: Vec<UnusedInteraction> = (self.queues.iter())
            .flat_map(|queue| {
                let turns = queue.next.load(Ordering::Relaxed);
                (queue.tracks.iter().skip(turns)).map(|&index| UnusedInteraction {
                    index,
                    operation: queue.key.operation().to_owned(),
                })
            })
            .collect();
        unused.sort_unstable_by_key(|interaction| interaction.index);
        unused
    }

    /// Starts every queue from its first recorded answer again, so a flow can be replayed
    /// again without a restart. Calls in flight at that moment may get either turn.
    pub fn rewind(&self) {
        for queue in &self.queues {
            queue.next.store(0, Ordering::Relaxed);
        }
    }

    fn queue(&self, key: KeyRef<'_>) -> Option<&Queue> {
        self.queues.find(self.key_hasher.hash_one(key), |queue| {
            queue.key.as_ref() == key
        })
    }

    fn closest(&self, key: &MatchKey) -> Option<Closest> {
        // Fewest differences wins; a different operation weighs more than any body change.
        // A queue stands for its first interaction, the earliest one with its key.
        self.queues
            .iter()
            .map(|queue| {
                let diffs = differences(key, &queue.key);
                let weight = diffs.len()
                    + if queue.key.operation() == key.operation() {
                        0
                    } else {
                        1000
                    };
                (weight, queue.tracks[0], &queue.key, diffs)
            })
            .min_by_key(|(weight, index, _, _)| (*weight, *index))
            .map(|(_, index, recorded, differences)| Closest {
                index,
                operation: recorded.operation().to_owned(),
                region: recorded.region().to_owned(),
                differences,
            })
    }

    fn miss(&self, key: &MatchKey, kind: MissKind) -> Box<ReplayMiss> {
        Box::new(ReplayMiss {
            cassette: self.name.clone(),
            path: self.path.clone(),
            operation: key.operation().to_owned(),
            region: key.region().to_owned(),
            kind,
        })
    }
}

/// The error shape of an error answer as botocore reads it: `x-amzn-errortype` (up to a `:`),
/// else the body's `__type` (after a `#`).
pub fn error_type(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Option<String> {
    if status.as_u16() < 400 {
        return None;
    }
    if let Some(value) = headers.get(X_AMZN_ERROR_TYPE) {
        let text = String::from_utf8_lossy(value.as_bytes());
        return Some(text.split(':').next().unwrap_or_default().to_owned());
    }
    let body: Value = serde_json::from_slice(body).ok()?;
    let shape = body.get("__type")?.as_str()?;
    Some(shape.rsplit('#').next().unwrap_or(shape).to_owned())
}

/// Why a request found no recorded answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayMiss {
    /// The cassette name.
    pub cassette: String,
    /// The cassette file.
    pub path: PathBuf,
    /// The operation called.
    pub operation: String,
    /// The caller's region.
    pub region: String,
    /// Never recorded, or recorded but used up.
    pub kind: MissKind,
}

/// The two ways to miss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissKind {
    /// No interaction has this key.
    NotRecorded {
        /// The most similar recorded request, if the cassette has any.
        closest: Option<Closest>,
    },
    /// Every answer recorded for this key was replayed already.
    Exhausted {
        /// How many answers were recorded for it.
        recorded: usize,
    },
}

/// The recorded request most like the one that missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closest {
    /// Position of the interaction in the cassette, from 0.
    pub index: usize,
    /// Its operation.
    pub operation: String,
    /// Its region.
    pub region: String,
    /// What differs, path by path.
    pub differences: Vec<Difference>,
}

impl ReplayMiss {
    /// The miss as the run report lists it: the operation, and in a few words why.
    pub fn summary(&self) -> MissedCall {
        let reason = match &self.kind {
            MissKind::Exhausted { recorded } => {
                format!("all {recorded} answer(s) recorded for it were already replayed")
            }
            MissKind::NotRecorded { closest: None } => {
                "the cassette has no interactions".to_owned()
            }
            MissKind::NotRecorded {
                closest: Some(closest),
            } => {
                let paths: Vec<&str> = (closest.differences.iter())
                    .map(|difference| difference.path.as_str())
                    .collect();
                format!(
                    "never recorded; closest is interaction {} ({}), which differs at {}",
                    closest.index,
                    closest.operation,
                    paths.join(", ")
                )
            }
        };
        MissedCall {
            operation: self.operation.clone(),
            reason,
        }
    }
}

impl fmt::Display for ReplayMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no recorded answer left in cassette '{}' ({}) for {} in {}",
            self.cassette,
            self.path.display(),
            self.operation,
            self.region
        )?;
        match &self.kind {
            MissKind::Exhausted { recorded } => write!(
                f,
                ": all {recorded} answer(s) recorded for this exact request were already replayed \
                 (set cassettes.repeat_last = true to repeat the last one)"
            ),
            MissKind::NotRecorded { closest: None } => {
                f.write_str(": the cassette has no interactions")
            }
            MissKind::NotRecorded {
                closest: Some(closest),
            } => {
                write!(
                    f,
                    ". Closest recorded request: interaction {} ({} in {}), which differs at:",
                    closest.index, closest.operation, closest.region
                )?;
                for difference in &closest.differences {
                    write!(f, "\n  {difference}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::format::{Body, Interaction, RecordedRequest, RecordedResponse};
    use serde_json::json;

    fn interaction(operation: &str, body: Value, status: u16, answer: &str) -> Interaction {
        Interaction {
            operation: operation.to_owned(),
            region: "us-east-1".to_owned(),
            recorded_at: "2024-02-25T18:01:33Z".to_owned(),
            request: RecordedRequest { body },
            response: RecordedResponse {
                status,
                headers: Default::default(),
                body: Body::Utf8(answer.to_owned()),
            },
        }
    }

    fn op(name: &str) -> Operation {
        Operation::named(name).unwrap()
    }

    fn tape(when_exhausted: WhenExhausted) -> Tape {
        let mut cassette = Cassette::new();
        cassette.interactions = vec![
            interaction(
                "DeregisterTaskFromMaintenanceWindow",
                json!({"Id": "a"}),
                200,
                "first",
            ),
            interaction("DescribeMaintenanceWindows", json!({}), 200, "list"),
            interaction(
                "DeregisterTaskFromMaintenanceWindow",
                json!({"Id": "a"}),
                400,
                "second",
            ),
        ];
        Tape::new(
            "flow",
            "cassettes/flow.json".into(),
            cassette,
            IgnoreRules::default(),
            when_exhausted,
        )
        .unwrap()
    }

    mod play {
        use super::*;

        #[test]
        fn repeats_replay_in_recorded_order_then_miss() {
            let tape = tape(WhenExhausted::Miss);
            let body = Json::from(&json!({"Id": "a"}));
            let play = || {
                tape.play(
                    op("DeregisterTaskFromMaintenanceWindow"),
                    "us-east-1",
                    &body,
                )
            };
            assert_eq!(&play().unwrap().answer.body[..], b"first");
            assert_eq!(&play().unwrap().answer.body[..], b"second");
            let miss = play().unwrap_err();
            assert_eq!(miss.kind, MissKind::Exhausted { recorded: 2 });
        }

        #[test]
        fn unused_lists_what_no_call_took_until_a_rewind() {
            let tape = tape(WhenExhausted::Miss);
            let operation = op("DeregisterTaskFromMaintenanceWindow");
            let body = Json::from(&json!({"Id": "a"}));
            tape.play(operation, "us-east-1", &body).unwrap();
            let unused: Vec<usize> = tape.unused().iter().map(|u| u.index).collect();
            assert_eq!(unused, [1, 2]);
            assert_eq!(
                tape.unused()[1].operation,
                "DeregisterTaskFromMaintenanceWindow"
            );
            tape.rewind();
            assert_eq!(tape.unused().len(), 3);
            assert_eq!(
                &tape
                    .play(operation, "us-east-1", &body)
                    .unwrap()
                    .answer
                    .body[..],
                b"first"
            );
        }

        #[test]
        fn repeat_last_keeps_answering_the_last_recording() {
            let tape = tape(WhenExhausted::RepeatLast);
            let body = Json::from(&json!({"Id": "a"}));
            for expected in ["first", "second", "second"] {
                let played = tape
                    .play(
                        op("DeregisterTaskFromMaintenanceWindow"),
                        "us-east-1",
                        &body,
                    )
                    .unwrap();
                assert_eq!(&played.answer.body[..], expected.as_bytes());
            }
        }

        #[test]
        fn a_miss_names_the_closest_request_of_the_same_operation() {
            let tape = tape(WhenExhausted::Miss);
            let body = Json::from(&json!({"Id": "b"}));
            let miss = tape
                .play(
                    op("DeregisterTaskFromMaintenanceWindow"),
                    "us-east-1",
                    &body,
                )
                .unwrap_err();
            assert_eq!(
                miss.to_string(),
                "no recorded answer left in cassette 'flow' (cassettes/flow.json) for DeregisterTaskFromMaintenanceWindow in us-east-1. \
                 Closest recorded request: interaction 0 (DeregisterTaskFromMaintenanceWindow in us-east-1), which differs at:\n  \
                 $.Id: sent \"b\", recorded \"a\""
            );
        }
    }
}
