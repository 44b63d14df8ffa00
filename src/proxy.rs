//! Starting the proxy in-process: [`ProxyBuilder`] and the running [`Proxy`] it returns.
//!
//! This is the crate's public API, used by the `serve` command, by the repo's own tests and by
//! embedding test suites: configure, [`ProxyBuilder::start`], point the client at
//! [`Proxy::endpoint_url`], then [`Proxy::stop`]. Starting validates the configuration,
//! binds the listener, opens the shared state (`hall.rs`) and serves from a task of the
//! caller's runtime; the handle reads the run's report from that state.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::cassette::format::Cassette;
use crate::cassette::name::{CassetteName, InvalidCassetteName};
use crate::config::{Config, Settings};
use crate::hall::Hall;
use crate::mode::Mode;
use crate::report::{FailOn, Report};
use crate::server;
use crate::start_error::StartError;

/// Configures a proxy to start in-process.
///
/// Its defaults suit a test suite rather than a shared machine: replay mode, the listener on
/// `127.0.0.1` with a free port, and no audit log unless [`Self::audit_log`] asks for one;
/// everything else is [`Config::default`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ProxyBuilder {
    config: Config,
    credentials: Option<SharedCredentialsProvider>,
    in_memory: Option<Cassette>,
}

impl Default for ProxyBuilder {
    fn default() -> Self {
        let mut config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Config::default()
        };
        config.audit.enabled = false;
        Self {
            config,
            credentials: None,
            in_memory: None,
        }
    }
}

impl ProxyBuilder {
    /// Replaces the whole configuration, e.g. one read with [`Config::load`].
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// How calls are answered (default: replay).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.config.mode = mode;
        self
    }

    /// The folder of the cassettes, and the cassette that answers calls sent to `/`.
    pub fn cassettes(mut self, dir: impl Into<PathBuf>, default: &str) -> Self {
        self.config.cassettes.dir = dir.into();
        default.clone_into(&mut self.config.cassettes.default);
        self
    }

    /// Replays the cassette file at `path` for calls sent to `/`; its folder holds the
    /// cassettes that `/cassette/<name>/` selects.
    pub fn cassette_file(mut self, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned());
        self.config.cassettes.default = name.unwrap_or_default();
        self.config.cassettes.dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        self
    }

    /// Replays `cassette`, held in memory, for calls sent to `/` (replay mode only): one a test
    /// builds, or embeds with `include_bytes!` and [`Cassette::from_json`]. It is reported
    /// under the configured default cassette's name.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let cassette = ssm_vcr::Cassette::from_json(br#"{"version": 1, "interactions": []}"#)?;
    /// let proxy = ssm_vcr::Proxy::builder().cassette(cassette).start().await?;
    /// proxy.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn cassette(mut self, cassette: Cassette) -> Self {
        self.in_memory = Some(cassette);
        self
    }

    /// Keeps the forward-proxy mode's local CA in `dir` instead of the user's data folder.
    pub fn ca_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.forward_proxy.ca_dir = Some(dir.into());
        self
    }

    /// Audits calls into `file` (the operations of `audit.operations`).
    pub fn audit_log(mut self, file: impl Into<PathBuf>) -> Self {
        self.config.audit.enabled = true;
        self.config.audit.file = file.into();
        self
    }

    /// Forwards to `url` instead of `https://ssm.<region>.amazonaws.com`.
    pub fn upstream(mut self, url: &str) -> Self {
        self.config.upstream = Some(url.to_owned());
        self
    }

    /// Re-signs forwarded calls with these credentials instead of the standard AWS chain.
    pub fn credentials(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.credentials = Some(SharedCredentialsProvider::new(provider));
        self
    }

    /// Validates the configuration, binds the listener, opens cassettes and the audit log,
    /// resolves credentials in forwarding modes and starts serving on the current runtime.
    pub async fn start(self) -> Result<Proxy, StartError> {
        if self.in_memory.is_some() && self.config.mode != Mode::Replay {
            return Err(StartError::InMemoryCassette {
                mode: self.config.mode.as_str(),
            });
        }
        let settings = self.config.validate()?;
        Proxy::start(settings, self.credentials, self.in_memory).await
    }
}

/// A proxy serving from a task of its own. Dropping it stops the proxy without waiting;
/// [`Self::stop`] waits for in-flight calls and the audit log.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    hall: Arc<Hall>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Proxy {
    /// A builder with the in-process defaults.
    pub fn builder() -> ProxyBuilder {
        ProxyBuilder::default()
    }

    /// Starts a proxy on settings validated already (the `serve` command's path, which reads
    /// them before anything else to set up logging).
    pub(crate) async fn start(
        settings: Settings,
        credentials: Option<SharedCredentialsProvider>,
        in_memory: Option<Cassette>,
    ) -> Result<Self, StartError> {
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartError::Listen {
                    address: settings.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            address: settings.listen,
            source,
        })?;
        // After the listener: a proxy that cannot listen writes no audit start record.
        let (mode, limits) = (settings.mode, settings.limits.clone());
        let compact_interval = settings.cassettes.compact_interval;
        let hall = Arc::new(Hall::open(settings, credentials, in_memory).await?);
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = Arc::clone(&hall);
        let task = tokio::spawn(async move {
            let compacting = compact_interval
                .filter(|_| mode.records())
                .map(|every| tokio::spawn(compact_every(Arc::clone(&serving), every)));
            let served = server::serve(listener, serving, &limits, async {
                // A dropped handle stops the proxy too.
                let _ = stopped.await;
            })
            .await;
            if let Some(compacting) = compacting {
                compacting.abort();
            }
            served
        });
        Ok(Self {
            addr,
            hall,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint to give a client (`AWS_ENDPOINT_URL_SSM`): calls there are answered from
    /// the default cassette.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The endpoint whose calls are answered from the cassette `name`.
    pub fn cassette_url(&self, name: &str) -> String {
        format!("http://{}/cassette/{name}/", self.addr)
    }

    /// What the run has done so far: calls by outcome, and per cassette that calls reached,
    /// the recordings not used yet and the calls that missed.
    pub fn report(&self) -> Report {
        self.hall.report()
    }

    /// Panics, naming them, if a reached cassette holds recordings no call used or if a call
    /// found no recording: the end of a test that must use its cassette exactly.
    ///
    /// ```no_run
    /// # async fn test() -> Result<(), Box<dyn std::error::Error>> {
    /// let proxy = ssm_vcr::Proxy::builder()
    ///     .cassettes("cassettes", "maintenance-window-flow")
    ///     .start()
    ///     .await?;
    /// // … run the code under test against proxy.endpoint_url() …
    /// proxy.assert_all_used();
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    pub fn assert_all_used(&self) {
        let report = self.report();
        let fail_on = FailOn {
            unused: true,
            miss: true,
        };
        let failures = report.failures(fail_on);
        assert!(
            failures.is_empty(),
            "the cassettes and the calls do not match: {}\n{report}",
            failures.join("; ")
        );
    }

    /// Starts the named cassette's replays from its first recorded answers again, so a flow
    /// can run twice without a restart (`POST /__ssm-vcr/cassettes/<name>/reset` does the
    /// same). `Ok(false)` when no call has opened it yet.
    pub fn reset(&self, cassette: &str) -> Result<bool, InvalidCassetteName> {
        Ok(self.hall.rewind(&CassetteName::parse(cassette)?))
    }

    /// Stops accepting, lets in-flight calls finish (within `limits.shutdown_grace_ms`),
    /// closes the audit log and returns the run's report. A panic of the server is raised again
    /// here.
    pub async fn stop(mut self) -> io::Result<Report> {
        self.stopped(async {}).await
    }

    /// Serves until `signal` completes, then stops as [`Self::stop`] does.
    pub async fn stop_on(mut self, signal: impl Future<Output = ()>) -> io::Result<Report> {
        self.stopped(signal).await
    }

    async fn stopped(&mut self, signal: impl Future<Output = ()>) -> io::Result<Report> {
        let task = self.task.take().expect("a proxy is stopped once");
        tokio::pin!(task);
        tokio::select! {
            // The server ended by itself (an I/O error of the listener).
            ended = &mut task => return joined(ended).map(|()| self.report()),
            () = signal => {}
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        joined(task.await).map(|()| self.report())
    }
}

/// Writes the cassettes being recorded every `every`, so that one left open for long is
/// reviewable as it grows.
async fn compact_every(hall: Arc<Hall>, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is now, when nothing is recorded yet
    loop {
        ticks.tick().await;
        hall.compact().await;
    }
}

fn joined(ended: Result<io::Result<()>, tokio::task::JoinError>) -> io::Result<()> {
    match ended {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(io::Error::other(e)),
    }
}
