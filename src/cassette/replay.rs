//! Replay state of one loaded cassette: a FIFO queue of recorded answers per matching key, the
//! client's secrets bound for the run, and the miss diagnostic naming the closest recorded
//! request.
//!
//! Queues are found by the hash of their key, computed on the parsed body in place, and advance
//! with an atomic counter, so concurrent requests never take a lock here and two identical
//! requests never get the same answer. An answer recorded `repeat` times takes that many turns.
//! A queue of a waiter's operation (botocore's `waiters-2.json`) also knows, from each turn,
//! where the answers that make a waiting client poll again end: with fast-forward on, a call
//! is answered at once with the answer that ends the wait, and the polls between count as
//! consumed. Calls that carry no secret and answers that carry no placeholder take no lock.
//! Loading files is `store.rs`'s job.

use std::fmt;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use hashbrown::HashTable;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;

use super::format::{Cassette, FormatError};
use super::matching::{Difference, IgnoreRules, KeyRef, MatchKey, differences};
use super::secrets::{AnswerSecrets, Bindings, RequestSecrets};
use crate::aws::error::headers::X_AMZN_ERROR_TYPE;
use crate::aws::model::Operation;
use crate::aws::model::waiters::{self, Poll, waiters_of};
use crate::json::Json;
use crate::report::{MissedCall, SecretsReport, UnusedInteraction};

/// A recorded answer, ready to send.
#[derive(Debug)]
pub struct Answer {
    /// The recorded status.
    pub status: StatusCode,
    /// The recorded headers that matter.
    pub headers: HeaderMap,
    /// The recorded body bytes.
    pub body: Bytes,
    /// The AWS error shape of an error answer, read once at load time.
    pub error_type: Option<String>,
    /// Where the body carries placeholders of sensitive values.
    secrets: Option<AnswerSecrets>,
    /// What the answer tells a client that waits on it, for a waiter's operation.
    poll: Option<Poll>,
}

impl Answer {
    fn new(
        operation: Option<Operation>,
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    ) -> Self {
        let error_type = error_type(status, &headers, &body);
        let secrets = AnswerSecrets::of(operation, &body);
        let poll = operation.and_then(|op| poll(op, status, error_type.as_deref(), &body));
        Self {
            status,
            headers,
            body,
            error_type,
            secrets,
            poll,
        }
    }
}

/// What `body`, an answer of `operation`, tells a client running any of its waiters: it polls
/// again only when every waiter would.
fn poll(
    operation: Operation,
    status: StatusCode,
    error_type: Option<&str>,
    body: &[u8],
) -> Option<Poll> {
    let mut waiters = waiters_of(operation.as_str()).peekable();
    waiters.peek()?;
    let body = Json::parse(body).ok();
    let answer = waiters::Answer {
        status: status.as_u16(),
        error_type,
        body: body.as_ref(),
    };
    Some(
        if waiters.all(|waiter| waiter.judge(&answer) == Poll::Again) {
            Poll::Again
        } else {
            Poll::Ends
        },
    )
}

/// The recorded answers to one key, as positions in the cassette, one per turn, in recorded
/// order.
#[derive(Debug)]
struct Queue {
    key: MatchKey,
    tracks: Vec<usize>,
    next: AtomicUsize,
    /// For a waiter's operation whose queue holds polls to skip: from each turn, the turn of
    /// the answer that ends the wait (the turn itself when there is nothing to skip).
    ends: Option<Box<[usize]>>,
}

impl Queue {
    /// Finds, for each turn, the first answer at or after it that ends a wait, across answers
    /// that all make a waiting client poll again.
    fn find_ends(&mut self, answers: &[Answer]) {
        let mut ends = vec![0; self.tracks.len()];
        let mut next_end = None;
        for (turn, &index) in self.tracks.iter().enumerate().rev() {
            ends[turn] = match answers[index].poll {
                Some(Poll::Ends) => {
                    next_end = Some(turn);
                    turn
                }
                Some(Poll::Again) => next_end.unwrap_or(turn),
                None => {
                    next_end = None;
                    turn
                }
            };
        }
        let skips = ends.iter().enumerate().any(|(turn, &end)| end != turn);
        self.ends = skips.then(|| ends.into_boxed_slice());
    }
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

/// How recorded answers are handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaying {
    /// When a key's answers are used up.
    pub when_exhausted: WhenExhausted,
    /// Answer a waiter's poll with the answer that ends the wait, skipping the polls before it.
    pub fast_forward_waiters: bool,
}

impl Default for Replaying {
    fn default() -> Self {
        Self {
            when_exhausted: WhenExhausted::Miss,
            fast_forward_waiters: true,
        }
    }
}

/// A loaded cassette with its replay queues.
#[derive(Debug)]
pub struct Tape {
    name: String,
    path: PathBuf,
    /// Every recorded answer, by position in the cassette.
    answers: Vec<Answer>,
    /// Where each recorded request holds placeholders, by position.
    requests: Vec<RequestSecrets>,
    /// Queues by their key, found by the hash of a key borrowed from the live request.
    queues: HashTable<Queue>,
    key_hasher: foldhash::fast::RandomState,
    replaying: Replaying,
    rules: IgnoreRules,
    bindings: Arc<Bindings>,
    /// Polls answered past by fast-forward.
    skipped_polls: AtomicU64,
}

/// A replayed answer and where it came from.
#[derive(Debug)]
pub struct Played<'a> {
    /// Position of the interaction in the cassette, from 0.
    pub index: usize,
    /// The answer to send.
    pub answer: &'a Answer,
    /// The body with the client's secrets put back, when it carries any that are bound.
    revealed: Option<Bytes>,
    /// How many recorded polls were skipped to reach it.
    pub skipped_polls: usize,
}

impl Played<'_> {
    /// The HTTP response: recorded status, headers and body bytes (the body is shared, not
    /// copied), with the client's own secrets back in it.
    pub fn to_response(&self) -> Response<Full<Bytes>> {
        let body = (self.revealed.clone()).unwrap_or_else(|| self.answer.body.clone());
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = self.answer.status;
        *response.headers_mut() = self.answer.headers.clone();
        response
    }
}

impl Tape {
    /// Indexes a parsed cassette, whose placeholders start bound as `bindings` say.
    pub fn new(
        name: &str,
        path: PathBuf,
        cassette: Cassette,
        rules: IgnoreRules,
        replaying: Replaying,
        bindings: Arc<Bindings>,
    ) -> Result<Self, FormatError> {
        cassette.check_answers()?;
        let mut answers = Vec::with_capacity(cassette.interactions.len());
        let mut requests = Vec::with_capacity(cassette.interactions.len());
        let mut queues: HashTable<Queue> = HashTable::new();
        let key_hasher = foldhash::fast::RandomState::default();
        for (index, interaction) in cassette.interactions.into_iter().enumerate() {
            let bad = |reason: String| FormatError::Interaction { index, reason };
            let operation = Operation::named(&interaction.operation);
            let response = &interaction.response;
            answers.push(Answer::new(
                operation,
                response.status().map_err(bad)?,
                response.header_map().map_err(bad)?,
                response.body.to_bytes().map_err(bad)?,
            ));
            requests.push(RequestSecrets::of(operation, &interaction.request.body));
            let key = MatchKey::new(
                &interaction.operation,
                &interaction.region,
                &interaction.request.body,
                &rules,
            );
            let turns = std::iter::repeat_n(index, interaction.repeat as usize);
            let hash = key_hasher.hash_one(key.as_ref());
            let rehash = |queue: &Queue| key_hasher.hash_one(queue.key.as_ref());
            match queues.find_mut(hash, |queue| queue.key == key) {
                Some(queue) => queue.tracks.extend(turns),
                None => {
                    let queue = Queue {
                        key,
                        tracks: turns.collect(),
                        next: AtomicUsize::new(0),
                        ends: None,
                    };
                    queues.insert_unique(hash, queue, rehash);
                }
            }
        }
        for queue in queues.iter_mut() {
            if answers[queue.tracks[0]].poll.is_some() {
                queue.find_ends(&answers);
            }
        }
        Ok(Self {
            name: name.to_owned(),
            path,
            answers,
            requests,
            queues,
            key_hasher,
            replaying,
            rules,
            bindings,
            skipped_polls: AtomicU64::new(0),
        })
    }

    /// The next recorded answer for this request, or a miss explaining why there is none.
    /// The placeholders of the recorded request are bound to the secrets `body` sends.
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
        let (turn, skipped_polls) = self.take_turn(queue);
        let position = match (queue.tracks.get(turn), self.replaying.when_exhausted) {
            (Some(&index), _) => index,
            (None, WhenExhausted::RepeatLast) => {
                *queue.tracks.last().expect("queues are never empty")
            }
            (None, WhenExhausted::Miss) => {
                let recorded = queue.tracks.len();
                return Err(self.miss(&wanted.into(), MissKind::Exhausted { recorded }));
            }
        };
        let request = &self.requests[position];
        if !request.is_empty() {
            self.bindings
                .bind(request, body, position, operation.as_str());
        }
        let answer = &self.answers[position];
        let revealed = (answer.secrets.as_ref())
            .and_then(|secrets| self.bindings.reveal(secrets, &answer.body));
        if skipped_polls > 0 {
            self.skipped_polls
                .fetch_add(skipped_polls as u64, Ordering::Relaxed);
        }
        Ok(Played {
            index: position,
            answer,
            revealed,
            skipped_polls,
        })
    }

    /// Takes the queue's next turn, or with fast-forward the turn of the answer that ends a
    /// wait from there; that turn and how many were skipped to reach it.
    fn take_turn(&self, queue: &Queue) -> (usize, usize) {
        let ends = queue.ends.as_deref();
        let Some(ends) = ends.filter(|_| self.replaying.fast_forward_waiters) else {
            return (queue.next.fetch_add(1, Ordering::Relaxed), 0);
        };
        let mut turn = queue.next.load(Ordering::Relaxed);
        loop {
            let served = ends.get(turn).copied().unwrap_or(turn);
            match (queue.next).compare_exchange_weak(
                turn,
                served + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return (served, served - turn),
                Err(now) => turn = now,
            }
        }
    }

    /// How many interactions the cassette held when it was loaded.
    pub fn interactions(&self) -> usize {
        self.answers.len()
    }

    /// The recorded interactions no call has used yet (any of their turns, when repeated), in
    /// cassette order.
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
        unused.dedup_by_key(|interaction| interaction.index);
        unused
    }

    /// Polls answered past by fast-forward so far.
    pub fn skipped_polls(&self) -> u64 {
        self.skipped_polls.load(Ordering::Relaxed)
    }

    /// The run's secret bindings, shared with a recorder that continues the cassette.
    pub fn bindings(&self) -> Arc<Bindings> {
        Arc::clone(&self.bindings)
    }

    /// What the run's secret bindings came to.
    pub fn secrets(&self) -> SecretsReport {
        self.bindings.summary()
    }

    /// Starts every queue from its first recorded answer again and forgets what clients bound,
    /// so a flow can be replayed again without a restart. Calls in flight at that moment may
    /// get either turn.
    pub fn rewind(&self) {
        for queue in &self.queues {
            queue.next.store(0, Ordering::Relaxed);
        }
        self.bindings.clear();
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
    let body = Json::parse(body).ok()?;
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
                 (POST /__ssm-vcr/cassettes/{}/reset, or a restart, replays the cassette from the \
                 start; cassettes.repeat_last = true repeats the last answer)",
                self.cassette
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

    fn interaction(
        operation: &str,
        body: serde_json::Value,
        status: u16,
        answer: &str,
    ) -> Interaction {
        Interaction {
            operation: operation.to_owned(),
            region: "us-east-1".to_owned(),
            recorded_at: "2024-02-25T18:01:33Z".to_owned(),
            request: RecordedRequest {
                body: Json::from(&body),
            },
            response: RecordedResponse {
                status,
                headers: Default::default(),
                body: Body::Utf8(answer.to_owned()),
            },
            repeat: 1,
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
        indexed(
            cassette,
            Replaying {
                when_exhausted,
                ..Replaying::default()
            },
        )
    }

    fn indexed(cassette: Cassette, replaying: Replaying) -> Tape {
        Tape::new(
            "flow",
            "cassettes/flow.json".into(),
            cassette,
            IgnoreRules::default(),
            replaying,
            Arc::default(),
        )
        .unwrap()
    }

    /// Replay with fast-forward off: every recorded poll is served.
    const EVERY_POLL: Replaying = Replaying {
        when_exhausted: WhenExhausted::Miss,
        fast_forward_waiters: false,
    };

    /// A command polled: `InProgress` recorded `polls` times in a row, then `Success`.
    fn polled(polls: u32, replaying: Replaying) -> Tape {
        let request = json!({"CommandId": "c", "InstanceId": "i-0123456789abcdef0"});
        let status = |s: &str| format!(r#"{{"CommandId":"c","Status":"{s}"}}"#);
        let mut in_progress = interaction(
            "GetCommandInvocation",
            request.clone(),
            200,
            &status("InProgress"),
        );
        in_progress.repeat = polls;
        let mut cassette = Cassette::new();
        cassette.interactions = vec![
            in_progress,
            interaction("GetCommandInvocation", request, 200, &status("Success")),
        ];
        indexed(cassette, replaying)
    }

    fn poll(tape: &Tape) -> Result<(String, usize), Box<ReplayMiss>> {
        let body = Json::from(&json!({"InstanceId": "i-0123456789abcdef0", "CommandId": "c"}));
        let played = tape.play(op("GetCommandInvocation"), "us-east-1", &body)?;
        let text = String::from_utf8(played.answer.body.to_vec()).unwrap();
        let status = Json::parse(text.as_bytes()).unwrap()["Status"].to_string();
        Ok((status, played.skipped_polls))
    }

    mod waiters {
        use super::*;

        #[test]
        fn a_waiter_poll_is_answered_with_the_answer_that_ends_the_wait() {
            let tape = polled(3, Replaying::default());
            assert_eq!(poll(&tape).unwrap(), ("\"Success\"".to_owned(), 3));
            assert_eq!(tape.skipped_polls(), 3);
            assert_eq!(tape.unused(), []);
            assert!(poll(&tape).is_err());
            tape.rewind();
            assert_eq!(poll(&tape).unwrap().1, 3);
        }

        #[test]
        fn without_fast_forward_a_repeated_answer_is_served_its_count_of_times() {
            let tape = polled(3, EVERY_POLL);
            let statuses: Vec<String> = (0..4).map(|_| poll(&tape).unwrap().0).collect();
            assert_eq!(
                statuses,
                ["InProgress", "InProgress", "InProgress", "Success"].map(|s| format!("\"{s}\""))
            );
            assert_eq!(tape.skipped_polls(), 0);
            assert!(matches!(
                poll(&tape).unwrap_err().kind,
                MissKind::Exhausted { recorded: 4 }
            ));
        }

        #[test]
        fn a_repeated_answer_half_served_is_still_unused() {
            let tape = polled(3, EVERY_POLL);
            poll(&tape).unwrap();
            let unused: Vec<usize> = tape.unused().iter().map(|u| u.index).collect();
            assert_eq!(unused, [0, 1]);
        }

        #[test]
        fn polls_with_no_ending_answer_after_them_are_served_one_by_one() {
            let request = json!({"CommandId": "c", "InstanceId": "i-0123456789abcdef0"});
            let mut cassette = Cassette::new();
            let mut running = interaction(
                "GetCommandInvocation",
                request,
                200,
                r#"{"Status":"InProgress"}"#,
            );
            running.repeat = 2;
            cassette.interactions = vec![running];
            let tape = indexed(cassette, Replaying::default());
            assert_eq!(poll(&tape).unwrap().1, 0);
            assert_eq!(poll(&tape).unwrap().1, 0);
        }

        #[test]
        fn operations_without_a_waiter_are_never_skipped() {
            let tape = tape(WhenExhausted::Miss);
            let body = Json::from(&json!({"Id": "a"}));
            let operation = op("DeregisterTaskFromMaintenanceWindow");
            let played = tape.play(operation, "us-east-1", &body).unwrap();
            assert_eq!(
                (&played.answer.body[..], played.skipped_polls),
                (&b"first"[..], 0)
            );
        }
    }

    mod secrets {
        use super::*;

        #[test]
        fn a_secret_the_client_put_comes_back_in_the_read_that_carries_its_placeholder() {
            let mut cassette = Cassette::new();
            cassette.interactions = vec![
                interaction(
                    "PutParameter",
                    json!({"Name": "/db", "Value": "REDACTED-1", "Type": "SecureString"}),
                    200,
                    r#"{"Tier":"Standard","Version":1}"#,
                ),
                interaction(
                    "GetParameter",
                    json!({"Name": "/db", "WithDecryption": true}),
                    200,
                    r#"{"Parameter":{"Name":"/db","Value":"REDACTED-1"}}"#,
                ),
            ];
            let tape = indexed(cassette, Replaying::default());
            let get = Json::from(&json!({"Name": "/db", "WithDecryption": true}));
            let body = |played: Played<'_>| {
                let response = played.to_response();
                let bytes = response.into_body();
                futures_body(bytes)
            };
            // Read before any put: the placeholder, and counted.
            let played = tape.play(op("GetParameter"), "us-east-1", &get).unwrap();
            assert!(body(played).contains("REDACTED-1"));
            assert_eq!(tape.secrets().served_unbound, ["REDACTED-1"]);
            tape.rewind();
            let put =
                Json::from(&json!({"Name": "/db", "Value": "s3cr\"et", "Type": "SecureString"}));
            tape.play(op("PutParameter"), "us-east-1", &put).unwrap();
            let played = tape.play(op("GetParameter"), "us-east-1", &get).unwrap();
            assert_eq!(
                body(played),
                r#"{"Parameter":{"Name":"/db","Value":"s3cr\"et"}}"#
            );
            // What was served unbound before the rewind stays reported, as counts do.
            assert_eq!(tape.secrets().served_unbound, ["REDACTED-1"]);
        }

        fn futures_body(body: Full<Bytes>) -> String {
            use http_body::Body as _;
            let mut body = std::pin::pin!(body);
            let waker = std::task::Waker::noop();
            let mut context = std::task::Context::from_waker(waker);
            match body.as_mut().poll_frame(&mut context) {
                std::task::Poll::Ready(Some(Ok(frame))) => {
                    String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap()
                }
                _ => String::new(),
            }
        }
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
