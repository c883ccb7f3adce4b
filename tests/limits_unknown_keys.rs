//! Unknown SDK keys (issue 11 item 7): one datafile fetch in flight per key, a
//! short negative cache, and the fetch timeout from the config; against a slow
//! datafile server the test runs on a real socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::serve::Serve;

const UNKNOWN_BODY: &str = "{\"error\":\"unable to fetch fresh datafile (consider rechecking SDK key), status code: 403 Forbidden\"}\n";

/// A datafile server that answers every request 403 after `delay`, counting them.
struct Forbidding {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl Forbidding {
    async fn start(delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                });
            }
        });
        Forbidding { port, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn config(&self, extra: &str) -> String {
        format!(
            "client:\n  datafileURLTemplate: \"http://127.0.0.1:{}/%s.json\"\n{extra}",
            self.port
        )
    }
}

#[tokio::test]
async fn concurrent_requests_for_an_unknown_key_make_one_fetch_and_it_is_remembered() {
    let upstream = Forbidding::start(Duration::from_millis(500)).await;
    let serve = Serve::start(&upstream.config("  unknownSdkKeyTTL: 2s\n"));
    let replies =
        futures_util::future::join_all((0..100).map(|_| serve.get("/v1/config", "NoSuchKey123")))
            .await;
    for reply in &replies {
        assert_eq!(reply.status, 403, "{}", reply.body);
        assert_eq!(reply.body, UNKNOWN_BODY);
    }
    assert_eq!(upstream.requests(), 1, "100 concurrent requests, one fetch");
    let remembered = Instant::now();
    // Remembered: answered at once, without fetching again.
    let again = Instant::now();
    assert_eq!(serve.get("/v1/decide", "NoSuchKey123").await.status, 403);
    assert!(again.elapsed() < Duration::from_millis(300));
    assert_eq!(upstream.requests(), 1);
    // Another key is fetched on its own.
    assert_eq!(serve.get("/v1/config", "OtherKey456").await.status, 403);
    assert_eq!(upstream.requests(), 2);
    // After the TTL, the key is fetched again.
    tokio::time::sleep(Duration::from_millis(2200).saturating_sub(remembered.elapsed())).await;
    assert_eq!(serve.get("/v1/config", "NoSuchKey123").await.status, 403);
    assert_eq!(upstream.requests(), 3);
}

#[tokio::test]
async fn the_datafile_fetch_timeout_comes_from_the_config() {
    let upstream = Forbidding::start(Duration::from_secs(30)).await;
    let serve =
        Serve::start(&upstream.config("  datafileRequestTimeout: 300ms\n  unknownSdkKeyTTL: 0s\n"));
    for _ in 0..2 {
        let started = Instant::now();
        let reply = serve.get("/v1/config", "SlowKey789").await;
        // A fetch that fails other than with a 403 is upstream's 500.
        assert_eq!(reply.status, 500, "{}", reply.body);
        assert_eq!(
            reply.body,
            "{\"error\":\"failed to instantiate Optimizely for SDK Key: SlowKey789\"}\n"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "answered after {:?}",
            started.elapsed()
        );
    }
    // Not remembered with a TTL of 0: each request fetched.
    assert_eq!(upstream.requests(), 2);
}
