//! Redis over TLS with a private CA (issue 11 item 4): a real `redis-server`
//! with a `--tls-port`, certificates generated per test with `rcgen` (a CA, a
//! server certificate for 127.0.0.1/localhost, a client certificate), and the
//! `synchronization.pubsub.redis.tls` settings: the CA trusted, mutual TLS, the
//! `#insecure` fragment, and one `serve` syncing notifications over TLS.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

use crate::harness::serve::{DEMO_KEY, Serve, Sse, decide_demo, sync_config, user_of};
use crate::harness::{Agentctl, RedisServer, Run, free_port};

/// A private PKI written as PEM files into a directory of its own.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for 127.0.0.1 and localhost, and a client
    /// certificate, all signed by the CA.
    fn generate() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "agentctl test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        for (name, sans, usage) in [
            (
                "server",
                vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
                ExtendedKeyUsagePurpose::ServerAuth,
            ),
            (
                "client",
                vec!["agentctl-client".to_owned()],
                ExtendedKeyUsagePurpose::ClientAuth,
            ),
        ] {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(sans).unwrap();
            // OpenSSL takes a certificate whose subject equals its issuer for a
            // self-signed one, so each gets a name of its own.
            params
                .distinguished_name
                .push(DnType::CommonName, format!("agentctl test {name}"));
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &ca).unwrap();
            std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(
                dir.path().join(format!("{name}-key.pem")),
                key.serialize_pem(),
            )
            .unwrap();
        }
        Self { dir }
    }

    /// The PEM file `name` (`ca.pem`, `server.pem`, `client-key.pem`, …).
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn text(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

/// A Redis with a plain port (for the harness's readiness probe and seeding)
/// and a TLS port using `pki`'s server certificate; `auth_clients` asks for a
/// client certificate. Returns the server and its `rediss://` URL.
fn tls_redis(pki: &Pki, auth_clients: bool) -> (RedisServer, String) {
    let port = free_port().to_string();
    let redis = RedisServer::start_with(&[
        "--tls-port",
        &port,
        "--tls-cert-file",
        &pki.text("server.pem"),
        "--tls-key-file",
        &pki.text("server-key.pem"),
        "--tls-ca-cert-file",
        &pki.text("ca.pem"),
        "--tls-auth-clients",
        if auth_clients { "yes" } else { "no" },
    ]);
    (redis, format!("rediss://127.0.0.1:{port}"))
}

/// A config file in `dir` whose `synchronization.pubsub.redis.tls` section is
/// `tls` (YAML flow mapping).
fn tls_config(dir: &Path, tls: &str) -> PathBuf {
    let path = dir.join("tls-config.yaml");
    std::fs::write(
        &path,
        format!("synchronization:\n  pubsub:\n    redis:\n      tls: {tls}\n"),
    )
    .unwrap();
    path
}

/// `agentctl --config CONFIG --redis URL inspect streams --json`.
fn inspect(cli: &Agentctl, config: &Path, url: &str) -> Run {
    cli.run(&[
        "--config",
        &config.display().to_string(),
        "--redis",
        url,
        "inspect",
        "streams",
        "--json",
    ])
}

/// The stream names an `inspect streams --json` run listed.
fn stream_names(run: &Run) -> String {
    run.json().to_string()
}

#[test]
fn private_ca_is_trusted_only_when_configured() {
    let pki = Pki::generate();
    let (redis, url) = tls_redis(&pki, false);
    redis.cmd::<String>(&["XADD", "stream:optimizely-sync-tls", "*", "k", "v"]);
    let cli = Agentctl::new();

    let with_ca = tls_config(
        cli.cwd(),
        &format!("{{ca_file: \"{}\"}}", pki.text("ca.pem")),
    );
    let run = inspect(&cli, &with_ca, &url).ok();
    assert!(
        stream_names(&run).contains("stream:optimizely-sync-tls"),
        "{}",
        run.stdout
    );

    let without = tls_config(cli.cwd(), "{}");
    let run = inspect(&cli, &without, &url);
    assert_ne!(
        run.code, 0,
        "connected without trusting the CA: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains("certificate") && run.stderr.contains("127.0.0.1"),
        "no clear certificate error: {}",
        run.stderr
    );
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let pki = Pki::generate();
    let (_redis, url) = tls_redis(&pki, true);
    let cli = Agentctl::new();

    let with_cert = tls_config(
        cli.cwd(),
        &format!(
            "{{ca_file: \"{}\", cert_file: \"{}\", key_file: \"{}\"}}",
            pki.text("ca.pem"),
            pki.text("client.pem"),
            pki.text("client-key.pem")
        ),
    );
    inspect(&cli, &with_cert, &url).ok();

    let ca_only = tls_config(
        cli.cwd(),
        &format!("{{ca_file: \"{}\"}}", pki.text("ca.pem")),
    );
    let run = inspect(&cli, &ca_only, &url);
    assert_ne!(
        run.code, 0,
        "connected without a client certificate: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains("cannot connect to Redis"),
        "{}",
        run.stderr
    );
}

#[test]
fn insecure_fragment_and_setting_skip_verification_with_a_warning() {
    let pki = Pki::generate();
    let (_redis, url) = tls_redis(&pki, false);
    let cli = Agentctl::new();
    let empty = tls_config(cli.cwd(), "{}");

    let run = inspect(&cli, &empty, &format!("{url}/#insecure")).ok();
    assert!(run.stderr.contains("verification is OFF"), "{}", run.stderr);

    let skip = tls_config(cli.cwd(), "{insecure_skip_verify: true}");
    let run = inspect(&cli, &skip, &url).ok();
    assert!(run.stderr.contains("verification is OFF"), "{}", run.stderr);
}

#[test]
fn tls_settings_are_validated() {
    let cli = Agentctl::new();
    let pki = Pki::generate();
    let half = tls_config(
        cli.cwd(),
        &format!("{{cert_file: \"{}\"}}", pki.text("client.pem")),
    );
    let run = inspect(&cli, &half, "rediss://127.0.0.1:1");
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("synchronization.pubsub.redis.tls.key_file"),
        "{}",
        run.stderr
    );

    let missing = tls_config(cli.cwd(), "{ca_file: \"/nonexistent/ca.pem\"}");
    let run = inspect(&cli, &missing, "rediss://:hunter2@127.0.0.1:1");
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("synchronization.pubsub.redis.tls.ca_file")
            && run.stderr.contains("/nonexistent/ca.pem")
            && run.stderr.contains("readable"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);

    let plain = tls_config(
        cli.cwd(),
        &format!("{{ca_file: \"{}\"}}", pki.text("ca.pem")),
    );
    let run = inspect(&cli, &plain, "127.0.0.1:1");
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("rediss://"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_syncs_notifications_over_tls() {
    let pki = Pki::generate();
    let (redis, url) = tls_redis(&pki, true);
    let serve = Serve::builder()
        .config(&sync_config(&url, "redis-streams"))
        .config(&format!(
            "synchronization:\n  pubsub:\n    redis:\n      tls: {{ca_file: \"{}\", cert_file: \"{}\", key_file: \"{}\"}}\n",
            pki.text("ca.pem"),
            pki.text("client.pem"),
            pki.text("client-key.pem")
        ))
        .start();
    let mut sse = Sse::open(&serve, DEMO_KEY, "", None).await;
    decide_demo(&serve, "tls-user").await;
    let event = sse.next_event().await;
    assert_eq!(user_of(&event), "tls-user");
    let entries: usize = redis.cmd(&["XLEN", "stream:optimizely-sync-demo"]);
    assert_eq!(
        entries, 1,
        "the notification did not go through Redis Streams"
    );
}
