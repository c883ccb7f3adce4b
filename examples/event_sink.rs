//! A small, fast stand-in for the vendor's event endpoint (`client.eventURL`), for
//! the benchmarks: `serve` POSTs its impression and conversion batches here.
//!
//! Every POST, whatever its path, is answered `204 No Content` as the vendor's
//! endpoint does, after counting the batch and the events in it (the length of
//! its `"visitors"` array; a body that is not such a batch counts as malformed).
//! A GET on any path answers the counters as one line of text:
//!
//! ```text
//! events 12345 batches 1235 bytes 9876543 malformed 0
//! ```
//!
//! the same line is printed to stdout at exit (SIGTERM or Ctrl-C). On start it
//! prints `listening http://ADDR` once the socket is bound.
//!
//! One thread (a current-thread runtime), so on a shared machine the sink takes as
//! little CPU as possible from the server under test; counting a batch parses it
//! once without building any value.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::any;
use axum::serve::ListenerExt;
use clap::Parser;
use serde::Deserialize;
use serde::de::IgnoredAny;

#[derive(Parser)]
#[command(about = "Event endpoint stand-in that counts the events it receives")]
struct Cli {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
}

/// What the sink has received so far.
#[derive(Default)]
struct Counters {
    events: AtomicU64,
    batches: AtomicU64,
    bytes: AtomicU64,
    malformed: AtomicU64,
}

impl Counters {
    fn line(&self) -> String {
        format!(
            "events {} batches {} bytes {} malformed {}",
            self.events.load(Ordering::Relaxed),
            self.batches.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.malformed.load(Ordering::Relaxed),
        )
    }
}

/// The only part of a batch the sink reads: how many visitors (events) it holds.
#[derive(Deserialize)]
struct Batch {
    visitors: Vec<IgnoredAny>,
}

async fn receive(State(counters): State<Arc<Counters>>, body: Bytes) -> StatusCode {
    counters
        .bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    match serde_json::from_slice::<Batch>(&body) {
        Ok(batch) => {
            counters.batches.fetch_add(1, Ordering::Relaxed);
            counters
                .events
                .fetch_add(batch.visitors.len() as u64, Ordering::Relaxed);
        }
        Err(_) => {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
        }
    }
    StatusCode::NO_CONTENT
}

async fn report(State(counters): State<Arc<Counters>>) -> String {
    counters.line() + "\n"
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed before this returns,
/// not when the future is first polled, so a signal that comes early is not lost.
fn shutdown() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let stop = shutdown()?;
    let counters = Arc::new(Counters::default());
    let app = Router::new()
        .route("/", any(receive).get(report))
        .route("/{*path}", any(receive).get(report))
        .with_state(Arc::clone(&counters));
    let listener = tokio::net::TcpListener::bind(&cli.addr).await?;
    println!("listening http://{}", listener.local_addr()?);
    let listener = listener.tap_io(|tcp| {
        // Small request/response exchanges: no Nagle delay on the answers.
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await?;
    println!("{}", counters.line());
    Ok(())
}
