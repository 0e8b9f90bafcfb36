//! `nidan serve`: open everything, listen, and stop cleanly.
//!
//! - The database may not be up yet when the server starts (containers starting together, a
//!   PostgreSQL restart), so connecting is retried with a growing delay (0.5 s doubling to 10 s),
//!   each retry logged, until it works or the process is told to stop. Only connection failures
//!   are retried; an unsupported URL or a failed migration stops the start at once.
//! - SIGTERM and Ctrl-C (SIGINT) start a graceful shutdown: the listener closes, requests in
//!   flight finish, and the process exits 0. Requests still running after [`DRAIN_TIMEOUT`] are
//!   abandoned so that a stuck client cannot hold a deploy hostage.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nidan_service::Store;
use nidan_store::OpenError;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::config::Config;
use crate::wiring;

/// First delay between connection attempts.
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// Longest delay between connection attempts.
const MAX_RETRY: Duration = Duration::from_secs(10);
/// How long requests in flight may take to finish after a stop signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> Result<()> {
    // Handlers first, so a stop signal during a slow start is not the default "die at once".
    let stop = StopSignal::install()?;

    wiring::ensure_data_dir(&config)?;
    let keys = wiring::load_keys(&config)?;
    let Some(store) = open_store_retrying(&config, &stop).await? else {
        tracing::info!("stopped before the database was reachable");
        return Ok(());
    };
    let service = wiring::service(&config, store, keys.secrets()).await?;
    drop(keys);

    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {} (server.listen)", config.server.listen))?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        public_url = %config.server.public_url,
        "nidan {} listening on http://{addr}",
        env!("CARGO_PKG_VERSION"),
    );

    if !config.server.is_https() && !addr.ip().is_loopback() {
        tracing::warn!(
            public_url = %config.server.public_url,
            "server.public_url is not https:// while listening beyond loopback: sign-in \
             cookies will lack the Secure flag; serve nidan behind a TLS proxy and set \
             server.public_url to its https:// address"
        );
    }

    service
        .prepare_webhooks()
        .await
        .context("preparing the webhooks")?;
    let metrics_listener = match config.metrics.listen {
        Some(at) => {
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on {at} (metrics.listen)"))?;
            let addr = listener
                .local_addr()
                .context("cannot read the metrics listening address")?;
            tracing::info!("metrics on http://{addr}/metrics");
            Some(listener)
        }
        None => None,
    };
    let background = tokio::spawn(background_work(service.clone(), stop.clone()));
    let nidan_web::Routers {
        public: app,
        metrics,
    } = nidan_web::routers(service, wiring::web_options(&config));
    let metrics_server = metrics_listener.map(|listener| {
        tokio::spawn(
            axum::serve(listener, metrics)
                .with_graceful_shutdown(stop.clone().stopped())
                .into_future(),
        )
    });
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop.clone().stopped());
    let deadline = async {
        stop.clone().stopped().await;
        tokio::time::sleep(DRAIN_TIMEOUT).await;
    };
    tokio::select! {
        result = server => result.context("the HTTP server failed")?,
        () = deadline => tracing::warn!(
            "requests still running {} s after the stop signal were abandoned",
            DRAIN_TIMEOUT.as_secs()
        ),
    }
    background.abort();
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    tracing::info!("nidan stopped");
    Ok(())
}

/// Work that runs beside the requests: the OpenID Connect signing keys (at start, when there
/// are none), delivering queued security notices and webhook events (every 5 s),
/// reporting sign-ins whose second step never came and turning two-step back on where its
/// "off until" time has come (every minute), and purging expired rows (every hour). Each step is idempotent, so a stop at any moment loses nothing.
async fn background_work(service: nidan_service::Service, stop: StopSignal) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    let stopped = stop.stopped();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            _ = tick.tick() => {}
        }
        if n == 0 {
            // The OpenID Connect signing keys, made now rather than by the first sign-in.
            service.prepare_signing_keys().await;
        }
        service.deliver_notices(50).await;
        service.deliver_webhooks().await;
        if n.is_multiple_of(12) {
            service.report_unfinished_sign_ins().await;
            service.two_step_back_on_when_due().await;
        }
        if n.is_multiple_of(720) {
            service.purge_expired().await;
        }
        n = n.wrapping_add(1);
    }
}

/// Opens the store, retrying connection failures with backoff. `None` when a stop signal came
/// first.
async fn open_store_retrying(config: &Config, stop: &StopSignal) -> Result<Option<Arc<dyn Store>>> {
    let database = nidan_store::redact_url(&config.database.url);
    let mut delay = FIRST_RETRY;
    let mut attempt = 1u32;
    loop {
        let opened = tokio::select! {
            opened = wiring::open_store(config) => opened,
            () = stop.clone().stopped() => return Ok(None),
        };
        match opened {
            Ok(store) => {
                tracing::info!(%database, "database ready, migrations applied");
                return Ok(Some(store));
            }
            Err(OpenError::Connect(reason)) => {
                tracing::warn!(
                    %database,
                    attempt,
                    retry_in_ms = delay.as_millis() as u64,
                    "database not reachable: {reason}; retrying"
                );
            }
            Err(e) => bail!("database {database}: {e}"),
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stop.clone().stopped() => return Ok(None),
        }
        delay = (delay * 2).min(MAX_RETRY);
        attempt = attempt.saturating_add(1);
    }
}

/// Becomes true once SIGTERM or SIGINT arrives; cheap to clone and wait on from many places.
#[derive(Clone)]
struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// Installs the handlers now (not on first poll), then waits for them in a task.
    fn install() -> Result<StopSignal> {
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle Ctrl-C")?;
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "Ctrl-C",
            };
            tracing::info!("{name} received; finishing requests in flight, then stopping");
            let _ = tx.send(true);
        });
        Ok(StopSignal(rx))
    }

    /// Resolves once a stop signal arrived.
    async fn stopped(mut self) {
        // The sender lives until it has sent; an error would mean that task died, and then no
        // signal can come, so waiting forever is right.
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
