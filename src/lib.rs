//! ssm-vcr: a record/replay interception proxy for the AWS Systems Manager (SSM) API.
//!
//! Clients (aws-cli, boto3, the AWS SDKs) point at it with `AWS_ENDPOINT_URL_SSM` and change
//! nothing else. Every request goes through one pipeline ([`proxy`]): the listener
//! ([`server`]) accepts it; the AWS JSON 1.1 envelope ([`aws::envelope`]) names the operation,
//! the caller (from the SigV4 credential scope) and the cassette (from the path prefix
//! `/cassette/<name>/`); every call is validated against AWS's own model of the SSM API, with
//! AWS's exact wording, and a name outside it is refused ([`aws::model`]); and the answer comes from a cassette
//! ([`cassette`]), matched on operation, region and the canonical JSON body, repeats replayed
//! in recorded order. Every failure is one [`error::ProxyError`], answered in AWS's error shape.
//! Every deregistration call, whatever its fate, is written to a durable, hash-chained audit
//! log ([`audit`]) before its response leaves.
//!
//! In record, auto and passthrough modes the answer comes from AWS instead ([`upstream`]):
//! each call is re-signed with SigV4 from the standard credential chain ([`aws::sigv4`]) and
//! recorded crash-safely without secrets: every value the model marks sensitive becomes a
//! placeholder ([`cassette::redact`], [`cassette::recorder`]). Replay mode never opens an
//! outbound connection.

#![forbid(unsafe_code)]

pub mod audit;
pub mod aws;
pub mod cassette;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod json;
pub mod logging;
pub mod proxy;
pub mod server;
pub mod text;
pub mod upstream;
