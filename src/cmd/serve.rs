//! `agentctl serve`: resolve the listen addresses, bind, announce them on stdout,
//! and serve until SIGINT/SIGTERM (SIGINT then exits 130, as shells expect of
//! Ctrl-C; SIGTERM exits 0).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};

use crate::cli::ServeArgs;
use crate::config::{self, Settings};
use crate::server::{ServeOptions, Server};

/// `host:port` from `server.host` and one of the `*.port` settings, both checked
/// when the settings were loaded for [`Scope::Serve`](config::Scope::Serve).
fn address(settings: &Settings, key: &str, port: &str) -> anyhow::Result<SocketAddr> {
    config::listen_addr(settings, port).with_context(|| {
        format!(
            "server.host {:?} with {key} {port:?} is not a listen address",
            settings.server.host
        )
    })
}

/// Runs `serve`.
///
/// # Errors
///
/// Settings `serve` cannot use, a listener that cannot bind, nowhere to load
/// datafiles from; [`super::Interrupted`] after a graceful shutdown on SIGINT.
pub async fn run(args: &ServeArgs, settings: Settings) -> anyhow::Result<()> {
    let api = match args.api_addr {
        Some(addr) => addr,
        None => address(&settings, "api.port", &settings.api.port)?,
    };
    let admin = match args.admin_addr {
        Some(addr) => addr,
        None => address(&settings, "admin.port", &settings.admin.port)?,
    };
    let webhook = match args.webhook_addr {
        Some(addr) => addr,
        None => address(&settings, "webhook.port", &settings.webhook.port)?,
    };
    if !args.datafiles.is_dir() && settings.client.datafile_url_template.is_empty() {
        bail!(
            "datafiles directory {} does not exist and client.datafileURLTemplate is empty: \
             there is nowhere to load datafiles from",
            args.datafiles.display()
        );
    }
    let server = Server::bind(
        settings,
        ServeOptions {
            api,
            admin,
            webhook,
            datafiles: args.datafiles.clone(),
        },
    )
    .await?;
    let bound = server.addresses().context("reading the bound addresses")?;
    let interrupted = Arc::new(AtomicBool::new(false));
    let shutdown = shutdown_signal(Arc::clone(&interrupted))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "listening api={} admin={} webhook={}",
            bound.api, bound.admin, bound.webhook
        )?;
        out.flush()?;
    }
    tracing::info!(api = %bound.api, admin = %bound.admin, webhook = %bound.webhook, "serving");
    server.run(shutdown).await?;
    if interrupted.load(Ordering::Relaxed) {
        return Err(super::Interrupted.into());
    }
    Ok(())
}

/// A future that completes on SIGINT (Ctrl-C), setting `interrupted`, or on
/// SIGTERM. The handlers are installed here, before the future is first polled:
/// once `listening` is printed a signal must never find the default action
/// (which kills the process without a graceful shutdown).
#[cfg(unix)]
fn shutdown_signal(
    interrupted: Arc<AtomicBool>,
) -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {
                interrupted.store(true, Ordering::Relaxed);
                tracing::info!("SIGINT: shutting down");
            }
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        }
    })
}

/// A future that completes on Ctrl-C, setting `interrupted`.
#[cfg(not(unix))]
fn shutdown_signal(
    interrupted: Arc<AtomicBool>,
) -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupted.store(true, Ordering::Relaxed);
            tracing::info!("Ctrl-C: shutting down");
        }
    })
}
