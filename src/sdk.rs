//! A ready `aws_sdk_ssm::Config` for a running [`Proxy`], behind the `aws-sdk` cargo feature so
//! that the binary does not compile the SDK.
//!
//! The configuration is what a replaying test needs and nothing it does not: the proxy's
//! endpoint, region `us-east-1`, fixed test credentials (the proxy never checks a signature in
//! replay mode), and **retries off**. A retrying SDK that meets a replayed 5xx or throttling
//! answer sends the call again, and each try takes the next recorded answer; recordings made
//! with this configuration replay exactly. To replay a cassette recorded by a client that
//! retried (aws-cli's default is 3 attempts in standard mode), give the same attempts:
//! `config.to_builder().retry_config(RetryConfig::standard().with_max_attempts(n))`.

use aws_sdk_ssm::config::retry::RetryConfig;
use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::proxy::Proxy;

/// The region of [`Proxy::sdk_config`]: the one the shipped cassettes were recorded in.
const SDK_REGION: &str = "us-east-1";

#[cfg_attr(docsrs, doc(cfg(feature = "aws-sdk")))]
impl Proxy {
    /// An `aws_sdk_ssm::Config` whose calls this proxy answers from its default cassette.
    ///
    /// ```no_run
    /// # async fn test() -> Result<(), Box<dyn std::error::Error>> {
    /// let proxy = ssm_vcr::Proxy::builder()
    ///     .cassette_file("cassettes/maintenance-window-flow.json")
    ///     .start()
    ///     .await?;
    /// let ssm = aws_sdk_ssm::Client::from_conf(proxy.sdk_config());
    /// let tasks = ssm
    ///     .describe_maintenance_window_tasks()
    ///     .window_id("mw-0c50858d01e8a7b6f")
    ///     .send()
    ///     .await?;
    /// # drop(tasks);
    /// # Ok(())
    /// # }
    /// ```
    pub fn sdk_config(&self) -> aws_sdk_ssm::Config {
        sdk_config(self.endpoint_url())
    }

    /// An `aws_sdk_ssm::Config` whose calls this proxy answers from the cassette `name` of its
    /// folder (a cassette per test).
    pub fn sdk_config_for_cassette(&self, name: &str) -> aws_sdk_ssm::Config {
        sdk_config(self.cassette_url(name))
    }
}

fn sdk_config(endpoint: String) -> aws_sdk_ssm::Config {
    // The SDK's own default client would bring a second TLS crypto provider; this is the
    // crate's (ring), for an endpoint that is plain HTTP anyway.
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(SDK_REGION))
        .credentials_provider(Credentials::new(
            "AKIDSSMVCRTEST",
            "not-a-secret",
            None,
            None,
            "ssm-vcr",
        ))
        .retry_config(RetryConfig::disabled())
        .http_client(http_client)
        .build()
}
