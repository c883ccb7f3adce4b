//! Connection limits and timeouts of the three listeners (issue 11 item 2), over
//! real sockets against a real `agentctl serve`.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::serve::{Serve, eventually};

const HEALTH_REQUEST: &[u8] = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// `http://ADDR` → `ADDR`.
fn addr(url: &str) -> &str {
    url.trim_start_matches("http://")
}

/// Sends `GET /health` on `stream` and reads the answer's bytes until its body
/// (`{"status":"ok"}`) arrived; the connection stays open (keep-alive).
async fn health_on(stream: &mut TcpStream) -> String {
    stream.write_all(HEALTH_REQUEST).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).contains("}") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "closed before answering: {answer:?}");
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// Everything the server sends until it closes the connection (a reset counts as
/// a close); `None` when it is still open after `limit`.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&answer).into_owned())
}

/// `/health` on the admin listener answers within a second.
async fn admin_answers(serve: &Serve) {
    let started = Instant::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(1),
        serve.http().get(format!("{}/health", serve.admin)).send(),
    )
    .await
    .expect("admin /health within 1 s")
    .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn max_conns_refuses_the_connection_over_the_cap_and_admin_still_answers() {
    let serve = Serve::start("api: {maxConns: 10}\nserver: {readTimeout: 30s}");
    let mut held = Vec::new();
    for _ in 0..10 {
        let mut stream = TcpStream::connect(addr(&serve.api)).await.unwrap();
        let answer = health_on(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        held.push(stream);
    }
    // The 11th is answered 503 (or just closed) at once, not served or left hanging.
    let mut over = TcpStream::connect(addr(&serve.api)).await.unwrap();
    let _ = over.write_all(HEALTH_REQUEST).await;
    let answer = until_closed(&mut over, Duration::from_secs(2))
        .await
        .expect("the connection over the cap is closed promptly");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
        "over the cap: {answer:?}"
    );
    admin_answers(&serve).await;
    // A freed slot is usable again.
    drop(held.pop());
    eventually(Duration::from_secs(5), || async {
        let mut stream = TcpStream::connect(addr(&serve.api)).await.ok()?;
        stream.write_all(HEALTH_REQUEST).await.ok()?;
        let answer = until_closed(&mut stream, Duration::from_millis(300)).await;
        // Still open after answering: served (keep-alive); closed: refused.
        answer.is_none().then_some(())
    })
    .await;
    assert!(
        serve.stderr().contains("connection refused"),
        "refusals are logged:\n{}",
        serve.stderr()
    );
}

#[tokio::test]
async fn silent_and_half_sent_requests_are_closed_after_the_read_timeout() {
    let serve = Serve::start("server: {readTimeout: 500ms}");
    for listener in [&serve.api, &serve.admin, &serve.webhook] {
        for sent in [&b""[..], b"GET /hea"] {
            let mut stream = TcpStream::connect(addr(listener)).await.unwrap();
            stream.write_all(sent).await.unwrap();
            let started = Instant::now();
            let closed = until_closed(&mut stream, Duration::from_secs(5)).await;
            assert!(
                closed.is_some(),
                "{listener}: connection that sent {sent:?} still open after 5 s"
            );
            assert!(
                started.elapsed() >= Duration::from_millis(400),
                "{listener}: closed too early ({:?})",
                started.elapsed()
            );
        }
    }
    // An idle keep-alive connection is closed too, after answering.
    let mut stream = TcpStream::connect(addr(&serve.api)).await.unwrap();
    health_on(&mut stream).await;
    assert!(
        until_closed(&mut stream, Duration::from_secs(5))
            .await
            .is_some(),
        "idle keep-alive connection still open"
    );
}

#[tokio::test]
async fn idle_connections_up_to_the_file_limit_do_not_stop_the_health_checks() {
    let serve = Serve::builder()
        .wrapped_in(&["prlimit", "--nofile=1024:1024", "--"])
        .start();
    let mut idle = Vec::new();
    for _ in 0..1020 {
        idle.push(TcpStream::connect(addr(&serve.api)).await.unwrap());
    }
    // Within the read timeout (5 s): the idle connections are all still there.
    for _ in 0..3 {
        admin_answers(&serve).await;
        let reply = tokio::time::timeout(
            Duration::from_secs(1),
            serve.http().get(format!("{}/health", serve.webhook)).send(),
        )
        .await
        .expect("webhook /health within 1 s")
        .unwrap();
        assert_eq!(reply.status().as_u16(), 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        serve.stderr().contains("open_file_limit=1024")
            || serve.stderr().contains("\"open_file_limit\":1024"),
        "the cap follows the file limit:\n{}",
        serve.stderr()
    );
}
