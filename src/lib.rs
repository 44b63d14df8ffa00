//! ssm-vcr: a record/replay interception proxy for the AWS Systems Manager (SSM) API.
//!
//! Clients (aws-cli, boto3, the AWS SDKs) point at it with `AWS_ENDPOINT_URL_SSM` and change
//! nothing else. The public API starts one in-process, for test suites and tools:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let proxy = ssm_vcr::Proxy::builder()
//!     .cassette_file("cassettes/maintenance-window-flow.json")
//!     .start()
//!     .await?;
//! // Give the SDK under test `AWS_ENDPOINT_URL_SSM=<this>`, or, with the `aws-sdk` feature,
//! // `aws_sdk_ssm::Client::from_conf(proxy.sdk_config())`.
//! assert!(proxy.endpoint_url().starts_with("http://127.0.0.1:"));
//! // … the code under test calls SSM …
//! let report = proxy.stop().await?;
//! // Nothing was called here, so every recording is unused; a test would call
//! // `proxy.assert_all_used()` before stopping.
//! assert_eq!(report.unused_count(), 7);
//! # Ok(())
//! # }
//! ```
//!
//! [`Proxy::report`] and [`Proxy::stop`] return the run [`Report`]: calls by [`Outcome`], and
//! per cassette the recordings no call used and the calls that found none.
//!
//! Cargo feature `aws-sdk` (off by default): `Proxy::sdk_config`, a ready `aws_sdk_ssm::Config`
//! for the proxy, with retries off so that a replayed error is not sent again.
//!
//! Beside the proxy, the API reads an audit log ([`verify_audit_log`], [`audit_log_files`]) and
//! opens the forward-proxy mode's local CA ([`LocalCa`]) for a client to trust. [`cli`] is the
//! `ssm-vcr` binary's command line; `harness` (feature `harness`) is the repo's own test
//! harness, not an API.
//!
//! Inside, every request takes one path. [`Proxy`] (`proxy.rs`) builds the shared state once
//! (`hall.rs`: mode, cassettes, upstream, audit log, counts); the listener (`server/`) accepts
//! each request and the router (`router.rs`) sends it, by method and path alone, to its
//! handler: the SSM pipeline (`pipeline/`), the one place that knows the order of the
//! stages. There the AWS JSON 1.1
//! envelope (`aws/envelope.rs`) names the operation, the caller and the cassette; the call is
//! validated against AWS's own model of the SSM API, in AWS's wording (`aws/model/`); and the
//! answer comes from a cassette (`cassette/`), matched on operation, region and the canonical
//! JSON body, repeats replayed in recorded order. Every failure is one `ProxyError`
//! (`error.rs`), answered in AWS's error shape, and every call is counted once (`tally.rs`) for
//! the run report, the metrics and the access log. Every call of an audited operation, whatever
//! its fate, is written to a durable, hash-chained audit log (`audit/`) before its response
//! leaves.
//!
//! In record, auto and passthrough modes the answer comes from AWS instead (`upstream/`): each
//! call is re-signed with SigV4 (`aws/sigv4.rs`) and recorded crash-safely without secrets:
//! every value the model marks sensitive becomes a placeholder (`cassette/redact.rs`). Replay
//! mode never opens an outbound connection.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod admin;
// The internals: their `pub` items are reachable only through `harness` (for the repo's
// benches, fuzz targets and client-playing tests), so the lint is off for them; the crate's
// API is the re-exports below and `cli`.
#[allow(unreachable_pub)]
mod audit;
#[allow(unreachable_pub)]
mod aws;
#[allow(unreachable_pub)]
mod cassette;
mod config;
#[allow(unreachable_pub)]
mod durable;
mod error;
mod hall;
#[allow(unreachable_pub)]
mod intercept;
#[allow(unreachable_pub)]
mod json;
mod logging;
mod metrics;
mod mode;
mod peer;
mod pipeline;
mod proxy;
mod report;
mod router;
#[cfg(feature = "aws-sdk")]
mod sdk;
mod server;
mod start_error;
mod tally;
#[allow(unreachable_pub)]
mod text;
mod upstream;
#[allow(unreachable_pub)]
mod verify;

pub mod cli;
#[cfg(feature = "harness")]
#[cfg_attr(docsrs, doc(cfg(feature = "harness")))]
pub mod harness;

pub use audit::files::chain_of as audit_log_files;
pub use audit::verify::{
    Broken as BrokenAuditChain, Summary as AuditSummary, verify as verify_audit_log,
};
pub use cassette::format::{Cassette, FormatError};
pub use cassette::name::InvalidCassetteName;
pub use config::{
    AuditSettings, CassetteSettings, Config, ConfigError, ForwardProxySettings, ForwardSettings,
    Limits, LogFormat, LogSettings, OnAuditFailure, ReplaySettings, ReportSettings,
};
pub use intercept::ca::{CaError, LocalCa};
pub use json::Json;
pub use mode::Mode;
pub use proxy::{Proxy, ProxyBuilder};
pub use report::{
    CassetteReport, FailOn, MAX_LISTED_MISSES, MissedCall, Outcome, Report, SecretConflict,
    SecretsReport, UnusedInteraction,
};
pub use start_error::StartError;
