//! Fault injection for the notification-sync tests: a TCP proxy that makes a real
//! `redis-server` report another version (stopping and restarting a server is
//! [`super::RedisServer::stop`] / [`super::RedisServer::restart_with`]).
//!
//! The proxy forwards every byte unchanged in both directions, except that in
//! replies from Redis each bulk string (`$<len>\r\n…\r\n`, or RESP3's verbatim
//! `=<len>\r\n…\r\n`) containing `redis_version:` has the value rewritten and its
//! length prefix fixed. Replies are tokenized flat — header lines and bulk payloads
//! — so aggregates need no tracking: their children are just the following tokens.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A proxy on `127.0.0.1:<port the OS picked>` in front of `upstream`; stops (and
/// closes every connection it carries) when dropped.
pub struct VersionProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl VersionProxy {
    /// Starts a proxy to `upstream` (`host:port`) that reports `version` in place of
    /// the real `redis_version`.
    pub fn start(upstream: &str, version: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let upstream = upstream.to_owned();
        let version = version.to_owned();
        let acceptor = {
            let stop = Arc::clone(&stop);
            let streams = Arc::clone(&streams);
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(server) = TcpStream::connect(&upstream) else {
                        // Redis is down: the client sees its connection closed.
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    {
                        let mut open = streams.lock().unwrap();
                        open.push(client.try_clone().unwrap());
                        open.push(server.try_clone().unwrap());
                    }
                    let (client_read, server_write) =
                        (client.try_clone().unwrap(), server.try_clone().unwrap());
                    std::thread::spawn(move || forward(client_read, server_write));
                    let version = version.clone();
                    std::thread::spawn(move || rewrite_replies(server, client, &version));
                }
            })
        };
        Self {
            addr,
            stop,
            streams,
            acceptor: Some(acceptor),
        }
    }

    /// `host:port` to give agentctl instead of the real server's.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for VersionProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Copies client → server byte for byte until either side closes.
fn forward(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

/// Copies server → client, rewriting `redis_version:` in bulk strings.
fn rewrite_replies(mut from: TcpStream, mut to: TcpStream, version: &str) {
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&chunk[..n]);
        let (out, used) = rewrite_complete_tokens(&pending, version);
        pending.drain(..used);
        if to.write_all(&out).is_err() {
            break;
        }
    }
    // Whatever was left is an incomplete token: pass it on as it is.
    let _ = to.write_all(&pending);
    let _ = to.shutdown(Shutdown::Write);
}

/// Rewrites every complete RESP token at the start of `input`; returns the output
/// and how many input bytes it covers (the rest is an incomplete token).
fn rewrite_complete_tokens(input: &[u8], version: &str) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(input.len());
    let mut at = 0;
    while at < input.len() {
        let Some(line_len) = input[at..].windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let line = &input[at..at + line_len];
        let header_end = at + line_len + 2;
        let bulk_len = match line.first() {
            Some(b'$' | b'=' | b'!') => std::str::from_utf8(&line[1..])
                .ok()
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n >= 0),
            _ => None,
        };
        let Some(bulk_len) = bulk_len else {
            // A simple line (`+OK`, `:1`, `*3`, `$-1`, …): forwarded as is.
            out.extend_from_slice(&input[at..header_end]);
            at = header_end;
            continue;
        };
        let payload_end = header_end + usize::try_from(bulk_len).unwrap();
        if input.len() < payload_end + 2 {
            break;
        }
        let payload = &input[header_end..payload_end];
        match rewrite_version(payload, version) {
            Some(rewritten) => {
                out.push(line[0]);
                out.extend_from_slice(rewritten.len().to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&rewritten);
                out.extend_from_slice(b"\r\n");
            }
            None => out.extend_from_slice(&input[at..payload_end + 2]),
        }
        at = payload_end + 2;
    }
    (out, at)
}

/// `payload` with the value after `redis_version:` replaced, when it has one.
fn rewrite_version(payload: &[u8], version: &str) -> Option<Vec<u8>> {
    const KEY: &[u8] = b"redis_version:";
    let start = payload.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let end = payload[start..]
        .iter()
        .position(|b| *b == b'\r' || *b == b'\n')
        .map_or(payload.len(), |n| start + n);
    let mut rewritten = payload[..start].to_vec();
    rewritten.extend_from_slice(version.as_bytes());
    rewritten.extend_from_slice(&payload[end..]);
    Some(rewritten)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_the_version_and_fixes_the_length() {
        let info = b"# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        let mut input = format!("*2\r\n:1\r\n${}\r\n", info.len()).into_bytes();
        input.extend_from_slice(info);
        input.extend_from_slice(b"\r\n+OK\r\n$5\r\nhel");
        let (out, used) = rewrite_complete_tokens(&input, "4.0.14");
        let expected = b"# Server\r\nredis_version:4.0.14\r\nredis_mode:standalone\r\n";
        let mut want = format!("*2\r\n:1\r\n${}\r\n", expected.len()).into_bytes();
        want.extend_from_slice(expected);
        want.extend_from_slice(b"\r\n+OK\r\n");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(want).unwrap()
        );
        assert_eq!(&input[used..], b"$5\r\nhel");
    }
}
