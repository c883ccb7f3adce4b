//! Every static check of the settings: values serde cannot check (ports, names
//! from a fixed set, durations that depend on each other, URL templates, regular
//! expressions), case normalisation of case-insensitive values, and the settings
//! `serve` refuses rather than silently ignores.
//!
//! Checks that need the outside world (reading TLS files, reaching Redis, the
//! datafiles directory) belong to the code that does the I/O, except that the
//! Redis TLS files must exist and be readable, so every command fails on a wrong
//! path before it connects. This module must not
//! import anything from `cli`, `cmd`, `server`, `notify` or `store`.

use std::net::{IpAddr, SocketAddr};

use super::tree::KeyPath;
use super::{AuthSettings, Error, Settings, Sources, duration};

/// Which command the settings are resolved for. `serve` reads keys the client
/// commands ignore, so only for `serve` are those keys checked: a client command
/// keeps working with a configuration file written for an Agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `agentctl serve`: every check.
    Serve,
    /// Every other command: the checks of keys every command shares.
    Client,
}

/// The IP address `server.host` names: `""` is every interface, `localhost` the
/// loopback, and an IPv6 address may be bracketed. `None` when it is not an
/// address (which [`validate`] refuses for `serve`).
fn host_ip(host: &str) -> Option<IpAddr> {
    match host.trim() {
        "" => Some(IpAddr::from([0, 0, 0, 0])),
        "localhost" => Some(IpAddr::from([127, 0, 0, 1])),
        other => other.trim_matches(['[', ']']).parse().ok(),
    }
}

/// The port number in one of the `*.port` values; `None` when it is not one
/// (which [`validate`] refuses).
fn port(value: &str) -> Option<u16> {
    value.parse().ok()
}

/// The address a listener binds: `server.host` with one of the `*.port` values.
/// `None` when either does not parse, which [`validate`] rules out for `serve`.
pub fn listen_addr(settings: &Settings, port_value: &str) -> Option<SocketAddr> {
    Some(SocketAddr::new(
        host_ip(&settings.server.host)?,
        port(port_value)?,
    ))
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

/// Checks values serde cannot check and normalises case-insensitive ones; with
/// [`Scope::Serve`], also the keys only `serve` reads.
pub(super) fn validate(
    settings: &mut Settings,
    sources: &Sources,
    scope: Scope,
) -> Result<(), Error> {
    shared(settings, sources)?;
    if scope == Scope::Serve {
        serve(settings, sources)?;
        tracing(&mut settings.tracing, sources)?;
    }
    Ok(())
}

/// The checks every command makes.
fn shared(settings: &mut Settings, sources: &Sources) -> Result<(), Error> {
    const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];
    let level = settings.log.level.to_lowercase();
    if !LEVELS.contains(&level.as_str()) {
        return Err(sources.invalid(
            &KeyPath::dotted("log.level"),
            quoted(&settings.log.level),
            "one of trace, debug, info, warn, error".to_owned(),
        ));
    }
    settings.log.level = level;

    for (key, value) in [
        ("api.port", &settings.api.port),
        ("admin.port", &settings.admin.port),
        ("webhook.port", &settings.webhook.port),
    ] {
        if port(value).is_none() {
            return Err(sources.invalid(
                &KeyPath::dotted(key),
                quoted(value),
                "a port number from 0 to 65535".to_owned(),
            ));
        }
    }

    let metrics = settings.admin.metrics_type.to_lowercase();
    if !["", "prometheus", "expvar"].contains(&metrics.as_str()) {
        return Err(sources.invalid(
            &KeyPath::dotted("admin.metricstype"),
            quoted(&settings.admin.metrics_type),
            "prometheus (Prometheus text), or expvar or \"\" (upstream's expvar JSON)".to_owned(),
        ));
    }
    settings.admin.metrics_type = metrics;

    let sync = &settings.synchronization;
    for (key, transport) in [
        (
            "synchronization.notification.default",
            &sync.notification.default,
        ),
        ("synchronization.datafile.default", &sync.datafile.default),
    ] {
        if !["redis", "redis-streams", "redis-pubsub"].contains(&transport.as_str()) {
            return Err(sources.invalid(
                &KeyPath::dotted(key),
                quoted(transport),
                "one of redis, redis-streams, redis-pubsub".to_owned(),
            ));
        }
    }

    let redis = &sync.pubsub.redis;
    if redis.batch_size == 0 {
        return Err(sources.invalid(
            &KeyPath::dotted("synchronization.pubsub.redis.batch_size"),
            "0".to_owned(),
            "an integer of at least 1".to_owned(),
        ));
    }
    if redis.retry_delay > redis.max_retry_delay {
        let retry = KeyPath::dotted("synchronization.pubsub.redis.retry_delay");
        let max = KeyPath::dotted("synchronization.pubsub.redis.max_retry_delay");
        let retry_text = duration::format(redis.retry_delay);
        let max_text = duration::format(redis.max_retry_delay);
        return Err(if sources.is_set(&retry) {
            sources.invalid(
                &retry,
                quoted(&retry_text),
                format!("a duration no longer than max_retry_delay ({max_text})"),
            )
        } else {
            sources.invalid(
                &max,
                quoted(&max_text),
                format!("a duration at least as long as retry_delay ({retry_text})"),
            )
        });
    }

    redis_wait(redis, sources)?;
    redis_topology(redis, sources)?;
    redis_tls(redis, sources)?;

    if settings.client.sdk_key_regex.is_empty() {
        return Err(sources.invalid(
            &KeyPath::dotted("client.sdkkeyregex"),
            quoted(""),
            "a non-empty regular expression".to_owned(),
        ));
    }
    Ok(())
}

/// `synchronization.pubsub.redis.wait_timeout` with `wait_replicas` set: more than
/// zero (`WAIT n 0` blocks for ever) and shorter than `connection_timeout` (the
/// reply timeout, which would otherwise cut the wait and make every batch look
/// lost).
fn redis_wait(redis: &super::RedisSettings, sources: &Sources) -> Result<(), Error> {
    if redis.wait_replicas == 0 {
        return Ok(());
    }
    let timeout = redis.connection_timeout;
    let fits = !redis.wait_timeout.is_zero() && (timeout.is_zero() || redis.wait_timeout < timeout);
    if fits {
        return Ok(());
    }
    let limit = if timeout.is_zero() {
        String::new()
    } else {
        format!(
            " and shorter than connection_timeout ({})",
            duration::format(timeout)
        )
    };
    Err(sources.invalid(
        &KeyPath::dotted("synchronization.pubsub.redis.wait_timeout"),
        quoted(&duration::format(redis.wait_timeout)),
        format!("a duration longer than 0 with wait_replicas set{limit}"),
    ))
}

/// `synchronization.pubsub.redis.{cluster,sentinel}`: one topology at a time, a
/// sentinel set with its sentinels, database 0 on a cluster (Redis Cluster has
/// only database 0). The addresses themselves are parsed where connections are
/// built, as `host` is.
fn redis_topology(redis: &super::RedisSettings, sources: &Sources) -> Result<(), Error> {
    let key = |name: &str| KeyPath::dotted(&format!("synchronization.pubsub.redis.{name}"));
    let sentinel = &redis.sentinel;
    if !redis.cluster.is_empty() && sentinel.is_set() {
        return Err(sources.invalid(
            &key("sentinel.master_name"),
            quoted(&sentinel.master_name),
            "empty while synchronization.pubsub.redis.cluster is set (one topology: \
             a cluster or a sentinel set)"
                .to_owned(),
        ));
    }
    if sentinel.is_set() && sentinel.addrs.is_empty() {
        return Err(sources.invalid(
            &key("sentinel.addrs"),
            "[]".to_owned(),
            "at least one sentinel host:port when sentinel.master_name is set".to_owned(),
        ));
    }
    if !sentinel.is_set() && !sentinel.addrs.is_empty() {
        return Err(sources.invalid(
            &key("sentinel.master_name"),
            quoted(""),
            "the name the sentinels monitor the primary under, since sentinel.addrs is set"
                .to_owned(),
        ));
    }
    if !redis.cluster.is_empty() && redis.database != 0 {
        return Err(sources.invalid(
            &key("database"),
            redis.database.to_string(),
            "0 with synchronization.pubsub.redis.cluster (Redis Cluster has only database 0)"
                .to_owned(),
        ));
    }
    Ok(())
}

/// `synchronization.pubsub.redis.tls`: the client certificate and key together,
/// and every file named readable. (That the host is a `rediss://` URL is checked
/// where connections are built: `--redis` replaces the host after validation.)
fn redis_tls(redis: &super::RedisSettings, sources: &Sources) -> Result<(), Error> {
    let tls = &redis.tls;
    let key = |name: &str| KeyPath::dotted(&format!("synchronization.pubsub.redis.tls.{name}"));
    for (name, value, other) in [
        ("cert_file", &tls.cert_file, &tls.key_file),
        ("key_file", &tls.key_file, &tls.cert_file),
    ] {
        if value.is_empty() && !other.is_empty() {
            return Err(sources.invalid(
                &key(name),
                quoted(value),
                "a PEM file: cert_file and key_file are set together".to_owned(),
            ));
        }
    }
    for (name, value) in [
        ("ca_file", &tls.ca_file),
        ("cert_file", &tls.cert_file),
        ("key_file", &tls.key_file),
    ] {
        if value.is_empty() {
            continue;
        }
        if let Err(error) = std::fs::File::open(value) {
            return Err(sources.invalid(
                &key(name),
                quoted(value),
                format!("a readable PEM file ({error})"),
            ));
        }
    }
    Ok(())
}

/// The checks of keys only `serve` reads: what it cannot use, or does not
/// implement and must not silently ignore.
fn serve(settings: &Settings, sources: &Sources) -> Result<(), Error> {
    if host_ip(&settings.server.host).is_none() {
        return Err(sources.invalid(
            &KeyPath::dotted("server.host"),
            quoted(&settings.server.host),
            "an IP address (e.g. 127.0.0.1 or 0.0.0.0), localhost or \"\"".to_owned(),
        ));
    }

    for (key, auth) in [
        ("api.auth", &settings.api.auth),
        ("admin.auth", &settings.admin.auth),
    ] {
        auth_section(key, auth, sources)?;
    }

    if let Err(err) = regex::Regex::new(&settings.client.sdk_key_regex) {
        // The regex error spans lines (pattern, caret, cause): keep the cause.
        let text = err.to_string();
        let cause = text.lines().last().unwrap_or_default().trim();
        return Err(sources.invalid(
            &KeyPath::dotted("client.sdkkeyregex"),
            quoted(&settings.client.sdk_key_regex),
            format!("a valid regular expression ({cause})"),
        ));
    }

    let server = &settings.server;
    let half_tls = match (server.cert_file.is_empty(), server.key_file.is_empty()) {
        (false, true) => Some(("server.keyfile", "server.certFile")),
        (true, false) => Some(("server.certfile", "server.keyFile")),
        _ => None,
    };
    if let Some((missing, given)) = half_tls {
        return Err(sources.invalid(
            &KeyPath::dotted(missing),
            quoted(""),
            format!("a PEM file, since {given} is set (TLS needs both)"),
        ));
    }

    let event_url = &settings.client.event_url;
    if !event_url.is_empty()
        && let Err(reason) = http_url(event_url)
    {
        return Err(sources.invalid(
            &KeyPath::dotted("client.eventurl"),
            quoted(event_url),
            format!("\"\" (events are discarded) or an http(s) URL ({reason})"),
        ));
    }

    let cmab = &settings.client.cmab;
    let endpoint = &cmab.prediction_endpoint;
    let endpoint_problem = if endpoint.contains("%s") {
        http_url(&endpoint.replace("%s", "0")).err()
    } else {
        Some("it has no %s placeholder for the rule id".to_owned())
    };
    if let Some(reason) = endpoint_problem {
        return Err(sources.invalid(
            &KeyPath::dotted("client.cmab.predictionendpoint"),
            quoted(endpoint),
            format!("an http(s) URL template with %s where the rule id goes ({reason})"),
        ));
    }
    if let Err(problem) = settings.client.odp.segments_cache_choice(&|_| None) {
        return Err(sources.invalid(
            &KeyPath::dotted(&format!(
                "client.odp.segmentscache.{}",
                problem.key.to_lowercase()
            )),
            problem.value,
            problem.expected,
        ));
    }

    let multiplier = cmab.retry_config.backoff_multiplier;
    if !multiplier.is_finite() || multiplier < 0.0 {
        return Err(sources.invalid(
            &KeyPath::dotted("client.cmab.retryconfig.backoffmultiplier"),
            multiplier.to_string(),
            "a finite number of at least 0".to_owned(),
        ));
    }
    Ok(())
}

/// The checks of one listener's `auth` section: what upstream would refuse to
/// start with or silently skip (a client it cannot use), refused with the reason.
fn auth_section(key: &str, auth: &AuthSettings, sources: &Sources) -> Result<(), Error> {
    let path = |field: &str| KeyPath::dotted(&format!("{key}.{field}"));
    for (i, secret) in auth.hmac_secrets.iter().enumerate() {
        if crate::util::decode_base64(secret).is_none_or(|bytes| bytes.is_empty()) {
            let mut at = path("hmacsecrets");
            at.push_index(i);
            return Err(sources.invalid(
                &at,
                String::new(),
                "a non-empty base64 string (as `agentctl generate-secret` prints)".to_owned(),
            ));
        }
    }
    if !auth.jwks_url.is_empty() {
        if let Err(reason) = http_url(&auth.jwks_url) {
            return Err(sources.invalid(
                &path("jwksurl"),
                quoted(&auth.jwks_url),
                format!("an http(s) URL of a JWKS document ({reason})"),
            ));
        }
        if auth.jwks_update_interval.is_zero() {
            return Err(sources.invalid(
                &path("jwksupdateinterval"),
                "0s".to_owned(),
                "a duration above 0 (e.g. 30m), since jwksURL is set".to_owned(),
            ));
        }
    }
    if auth.clients.is_empty() {
        return Ok(());
    }
    if auth.hmac_secrets.is_empty() {
        return Err(sources.invalid(
            &path("hmacsecrets"),
            "[]".to_owned(),
            "at least one secret, since clients are listed (issued tokens are signed \
             with the first)"
                .to_owned(),
        ));
    }
    if auth.ttl.is_zero() {
        return Err(sources.invalid(
            &path("ttl"),
            "0s".to_owned(),
            "a duration above 0 (e.g. 30m), since clients are listed (tokens would \
             expire as they are issued)"
                .to_owned(),
        ));
    }
    for (i, client) in auth.clients.iter().enumerate() {
        let field = |name: &str| {
            let mut at = path("clients");
            at.push_index(i);
            at.push_key(name);
            at
        };
        if client.id.is_empty() {
            return Err(sources.invalid(&field("id"), quoted(""), "a client id".to_owned()));
        }
        if auth.clients[..i].iter().any(|c| c.id == client.id) {
            return Err(sources.invalid(
                &field("id"),
                quoted(&client.id),
                "an id no other client of the list has".to_owned(),
            ));
        }
        let is_bcrypt = crate::util::decode_base64(&client.secret_hash)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .is_some_and(|hash| hash.parse::<bcrypt::HashParts>().is_ok());
        if !is_bcrypt {
            return Err(sources.invalid(
                &field("secrethash"),
                String::new(),
                "the base64 of a bcrypt hash, as `agentctl generate-secret` prints it".to_owned(),
            ));
        }
        if client.sdk_keys.is_empty() {
            return Err(sources.invalid(
                &field("sdkkeys"),
                "[]".to_owned(),
                "at least one SDK key its tokens grant".to_owned(),
            ));
        }
    }
    Ok(())
}

/// The `tracing.*` checks (`serve` alone traces): names from a fixed set
/// (lowercased here), a sample rate that is a fraction, and a collector URL when the
/// remote exporter is chosen. Values are checked even while tracing is off, so a
/// typo shows before the day it is turned on.
fn tracing(tracing: &mut super::TracingSettings, sources: &Sources) -> Result<(), Error> {
    let otel = &mut tracing.opentelemetry;
    let exporter = otel.default.to_lowercase();
    if !["stdout", "remote"].contains(&exporter.as_str()) {
        return Err(sources.invalid(
            &KeyPath::dotted("tracing.opentelemetry.default"),
            quoted(&otel.default),
            "stdout (spans written to services.stdout.filename) or remote (OTLP to \
             services.remote.endpoint)"
                .to_owned(),
        ));
    }
    otel.default = exporter;
    let remote = &mut otel.services.remote;
    let protocol = remote.protocol.to_lowercase();
    if !["grpc", "http"].contains(&protocol.as_str()) {
        return Err(sources.invalid(
            &KeyPath::dotted("tracing.opentelemetry.services.remote.protocol"),
            quoted(&remote.protocol),
            "grpc (OTLP/gRPC) or http (OTLP protobuf over HTTP)".to_owned(),
        ));
    }
    remote.protocol = protocol;
    let rate = remote.sample_rate;
    if !(0.0..=1.0).contains(&rate) {
        return Err(sources.invalid(
            &KeyPath::dotted("tracing.opentelemetry.services.remote.samplerate"),
            rate.to_string(),
            "a fraction from 0 (no request traced) to 1 (every request)".to_owned(),
        ));
    }
    if otel.default == "remote"
        && let Err(reason) = remote.url()
    {
        return Err(sources.invalid(
            &KeyPath::dotted("tracing.opentelemetry.services.remote.endpoint"),
            quoted(&remote.endpoint),
            format!("host:port, or an http(s) URL, of an OTLP collector ({reason})"),
        ));
    }
    Ok(())
}

/// Why `raw` is not an `http`/`https` URL, if it is not.
fn http_url(raw: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(raw).map_err(|err| err.to_string())?;
    match url.scheme() {
        "http" | "https" => Ok(()),
        other => Err(format!("scheme {other:?} is not http or https")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::config::{RedisSettings, from_yaml_str};

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn serve_err(text: &str) -> String {
        from_yaml_str(text, "./x.yaml", &no_env, Scope::Serve)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn addresses_come_from_host_and_port_settings() {
        let mut settings = Settings::default();
        assert_eq!(
            listen_addr(&settings, "8080"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(listen_addr(&settings, "80a"), None);
        settings.server.host = String::new();
        assert_eq!(
            listen_addr(&settings, "1"),
            Some("0.0.0.0:1".parse().unwrap())
        );
        settings.server.host = "localhost".to_owned();
        assert_eq!(
            listen_addr(&settings, "2"),
            Some("127.0.0.1:2".parse().unwrap())
        );
        settings.server.host = " [::1] ".to_owned();
        assert_eq!(
            listen_addr(&settings, "3"),
            Some("[::1]:3".parse().unwrap())
        );
        settings.server.host = "example.com".to_owned();
        assert_eq!(listen_addr(&settings, "4"), None);
    }

    #[test]
    fn serve_only_checks_spare_client_commands() {
        let text = "server:\n  host: example.com\n\
                    api:\n  auth:\n    jwksURL: https://example.com/jwks\n\
                    client:\n  eventURL: ftp://x\n  sdkKeyRegex: '('\n";
        assert!(from_yaml_str(text, "./x.yaml", &no_env, Scope::Client).is_ok());
        assert!(from_yaml_str(text, "./x.yaml", &no_env, Scope::Serve).is_err());
        assert!(from_yaml_str("", "./x.yaml", &no_env, Scope::Serve).is_ok());
    }

    /// `synchronization.pubsub.redis` loaded from `body` (lines indented under it),
    /// or the load error as text.
    fn redis_settings(body: &str) -> Result<RedisSettings, String> {
        from_yaml_str(
            &format!("synchronization:\n  pubsub:\n    redis:\n{body}"),
            "./x.yaml",
            &no_env,
            Scope::Client,
        )
        .map(|loaded| loaded.settings.synchronization.pubsub.redis)
        .map_err(|e| e.to_string())
    }

    #[test]
    fn one_redis_topology_at_a_time() {
        let redis = |body: &str| redis_settings(body).map(drop);
        assert!(redis("      cluster: [a:7000, b:7001]\n").is_ok());
        let both =
            redis("      cluster: [a:7000]\n      sentinel: {master_name: m, addrs: [s:26379]}\n")
                .unwrap_err();
        assert!(both.contains("sentinel.master_name"), "{both}");
        assert!(both.contains("one topology"), "{both}");
        let no_addrs = redis("      sentinel: {master_name: m}\n").unwrap_err();
        assert!(no_addrs.contains("sentinel.addrs"), "{no_addrs}");
        let no_name = redis("      sentinel: {addrs: [s:26379]}\n").unwrap_err();
        assert!(no_name.contains("sentinel.master_name"), "{no_name}");
        let db = redis("      cluster: [a:7000]\n      database: 3\n").unwrap_err();
        assert!(db.contains("only database 0"), "{db}");
        let secret = redis(
            "      sentinel: {master_name: m, addrs: [s:1], password: hunter2}\n      cluster: [a:1]\n",
        )
        .unwrap_err();
        assert!(!secret.contains("hunter2"), "{secret}");
    }

    #[test]
    fn wait_needs_a_timeout_within_the_reply_timeout() {
        let redis = redis_settings;
        let on = redis("      wait_replicas: 1\n").unwrap();
        assert_eq!(
            (on.wait_replicas, on.wait_timeout),
            (1, std::time::Duration::from_millis(100))
        );
        assert!(
            redis("      wait_timeout: 0s\n").is_ok(),
            "off: not checked"
        );
        assert_eq!(
            redis("      wait_replicas: 1\n      wait_timeout: 0s\n").unwrap_err(),
            "config file ./x.yaml: key `synchronization.pubsub.redis.wait_timeout`: invalid \
             value \"0s\": expected a duration longer than 0 with wait_replicas set and \
             shorter than connection_timeout (10s)"
        );
        let long =
            redis("      wait_replicas: 2\n      wait_timeout: 2s\n      connection_timeout: 1s\n")
                .unwrap_err();
        assert!(
            long.contains("shorter than connection_timeout (1s)"),
            "{long}"
        );
        let env = |name: &str| {
            (name == "OPTIMIZELY_SYNCHRONIZATION_PUBSUB_REDIS_WAIT_REPLICAS")
                .then(|| "2".to_owned())
        };
        let from_env = from_yaml_str("", "./x.yaml", &env, Scope::Client).unwrap();
        assert_eq!(
            from_env.settings.synchronization.pubsub.redis.wait_replicas,
            2
        );
    }

    #[test]
    fn serve_refuses_what_it_cannot_use() {
        assert_eq!(
            serve_err("server:\n  host: example.com\n"),
            "config file ./x.yaml: key `server.host`: invalid value \"example.com\": \
             expected an IP address (e.g. 127.0.0.1 or 0.0.0.0), localhost or \"\""
        );
        assert_eq!(
            serve_err("client:\n  sdkKeyRegex: '('\n"),
            "config file ./x.yaml: key `client.sdkKeyRegex`: invalid value \"(\": \
             expected a valid regular expression (error: unclosed group)"
        );
        assert_eq!(
            serve_err("server:\n  certFile: c.pem\n"),
            "config file ./x.yaml: key `server.keyFile`: invalid value \"\": \
             expected a PEM file, since server.certFile is set (TLS needs both)"
        );
        assert_eq!(
            serve_err("server:\n  keyFile: k.pem\n"),
            "config file ./x.yaml: key `server.certFile`: invalid value \"\": \
             expected a PEM file, since server.keyFile is set (TLS needs both)"
        );
        assert_eq!(
            serve_err("client:\n  eventURL: ftp://x/y\n"),
            "config file ./x.yaml: key `client.eventURL`: invalid value \"ftp://x/y\": \
             expected \"\" (events are discarded) or an http(s) URL \
             (scheme \"ftp\" is not http or https)"
        );
        assert_eq!(
            serve_err("client:\n  cmab:\n    predictionEndpoint: http://x/predict\n"),
            "config file ./x.yaml: key `client.cmab.predictionEndpoint`: \
             invalid value \"http://x/predict\": expected an http(s) URL template with %s \
             where the rule id goes (it has no %s placeholder for the rule id)"
        );
        assert_eq!(
            serve_err("client:\n  cmab:\n    predictionEndpoint: ftp://x/%s\n"),
            "config file ./x.yaml: key `client.cmab.predictionEndpoint`: \
             invalid value \"ftp://x/%s\": expected an http(s) URL template with %s \
             where the rule id goes (scheme \"ftp\" is not http or https)"
        );
        assert!(
            serve_err("client:\n  cmab:\n    predictionEndpoint: '%s'\n")
                .contains("relative URL without a base"),
        );
        assert_eq!(
            serve_err("client:\n  cmab:\n    retryConfig:\n      backoffMultiplier: -1\n"),
            "config file ./x.yaml: key `client.cmab.retryConfig.backoffMultiplier`: \
             invalid value -1: expected a finite number of at least 0"
        );
        assert!(
            serve_err("client:\n  cmab:\n    retryConfig:\n      backoffMultiplier: .nan\n")
                .contains("expected a finite number of at least 0"),
        );
    }

    #[test]
    fn tracing_values_are_checked_and_normalised() {
        let key = |key: &str, value: &str, expected: &str| {
            format!(
                "config file ./x.yaml: key `tracing.opentelemetry.{key}`: invalid value \
                 {value}: expected {expected}"
            )
        };
        assert_eq!(
            serve_err("tracing:\n  opentelemetry:\n    default: jaeger\n"),
            key(
                "default",
                "\"jaeger\"",
                "stdout (spans written to services.stdout.filename) or remote (OTLP to \
                 services.remote.endpoint)"
            )
        );
        let remote = |body: &str| {
            serve_err(&format!(
                "tracing:\n  opentelemetry:\n    default: remote\n    services:\n      \
                 remote:\n        {body}\n"
            ))
        };
        assert_eq!(
            remote("protocol: thrift"),
            key(
                "services.remote.protocol",
                "\"thrift\"",
                "grpc (OTLP/gRPC) or http (OTLP protobuf over HTTP)"
            )
        );
        for rate in ["1.5", "-0.1", ".nan"] {
            assert!(
                remote(&format!("sampleRate: {rate}")).contains(
                    "key `tracing.opentelemetry.services.remote.sampleRate`: invalid value"
                ),
                "{rate}"
            );
        }
        assert_eq!(
            remote("endpoint: 'ftp://c:1'"),
            key(
                "services.remote.endpoint",
                "\"ftp://c:1\"",
                "host:port, or an http(s) URL, of an OTLP collector \
                 (scheme \"ftp\" is not http or https)"
            )
        );
        // The endpoint is only read by the remote exporter.
        let text = "tracing:\n  opentelemetry:\n    default: STDOUT\n    services:\n      \
                    remote:\n        endpoint: ''\n        protocol: HTTP\n";
        let loaded = from_yaml_str(text, "./x.yaml", &no_env, Scope::Serve).unwrap();
        let otel = &loaded.settings.tracing.opentelemetry;
        assert_eq!(otel.default, "stdout");
        assert_eq!(otel.services.remote.protocol, "http");
        // Client commands do not trace: they do not check these keys.
        let bad = "tracing:\n  opentelemetry:\n    default: jaeger\n";
        assert!(from_yaml_str(bad, "./x.yaml", &no_env, Scope::Client).is_ok());
    }

    #[test]
    fn auth_settings_are_checked_without_showing_secrets() {
        // base64 of a bcrypt hash (cost 4) of 32 zero bytes.
        let hash =
            "JDJhJDA0JFBJdkZjbjJUZ0dhL05ZNHk5VG5PZi5mNkhYWi5YUXU2Q1EyTlZzaTh0dlRUbGRCRFZLV25L";
        let client = |extra: &str| {
            format!(
                "api:\n  auth:\n    ttl: 30m\n    hmacSecrets: [c2VjcmV0]\n    clients:\n      \
                 - {{id: c1, secretHash: {hash}, sdkKeys: [k]}}\n{extra}"
            )
        };
        let table = [
            (
                "api:\n  auth:\n    hmacSecrets: [c2VjcmV0, \"not base64!\"]\n".to_owned(),
                "key `api.auth.hmacSecrets[1]`: invalid value <redacted>: expected a non-empty \
                 base64 string (as `agentctl generate-secret` prints)",
            ),
            (
                "admin:\n  auth:\n    jwksURL: ftp://x/jwks\n    jwksUpdateInterval: 1m\n"
                    .to_owned(),
                "key `admin.auth.jwksURL`: invalid value \"ftp://x/jwks\": expected an http(s) \
                 URL of a JWKS document (scheme \"ftp\" is not http or https)",
            ),
            (
                "admin:\n  auth:\n    jwksURL: https://x/jwks\n".to_owned(),
                "key `admin.auth.jwksUpdateInterval`: invalid value 0s: expected a duration \
                 above 0 (e.g. 30m), since jwksURL is set",
            ),
            (
                format!(
                    "api:\n  auth:\n    ttl: 1m\n    clients: [{{id: c, secretHash: {hash}, sdkKeys: [k]}}]\n"
                ),
                "key `api.auth.hmacSecrets`: invalid value <redacted>: expected at least one secret, \
                 since clients are listed (issued tokens are signed with the first)",
            ),
            (
                client("").replace("ttl: 30m", "ttl: 0s"),
                "key `api.auth.ttl`: invalid value \"0s\": expected a duration above 0 (e.g. \
                 30m), since clients are listed (tokens would expire as they are issued)",
            ),
            (
                client("      - {id: c1, secretHash: x, sdkKeys: [k]}\n"),
                "key `api.auth.clients[1].id`: invalid value \"c1\": expected an id no other \
                 client of the list has",
            ),
            (
                client("").replace(hash, "aGFzaA=="),
                "key `api.auth.clients[0].secretHash`: invalid value <redacted>: expected the \
                 base64 of a bcrypt hash, as `agentctl generate-secret` prints it",
            ),
            (
                client("").replace("sdkKeys: [k]", "sdkKeys: []"),
                "key `api.auth.clients[0].sdkKeys`: invalid value []: expected at least one SDK \
                 key its tokens grant",
            ),
        ];
        for (yaml, want) in table {
            let err = serve_err(&yaml);
            assert_eq!(err, format!("config file ./x.yaml: {want}"), "{yaml}");
            assert!(!err.contains("c2VjcmV0") && !err.contains(hash), "{err}");
        }
        let ok = from_yaml_str(&client(""), "./x.yaml", &no_env, Scope::Serve).unwrap();
        assert_eq!(ok.settings.api.auth.clients[0].sdk_keys, ["k"]);
    }

    #[test]
    fn the_segments_cache_is_read_as_upstream_does() {
        use crate::config::{RedisSettings, SegmentsCacheChoice};
        use std::time::Duration;
        let choice = |text: &str, env: &dyn Fn(&str) -> Option<String>| {
            from_yaml_str(text, "./x.yaml", &no_env, Scope::Serve)
                .unwrap()
                .settings
                .client
                .odp
                .segments_cache_choice(env)
                .unwrap()
        };
        let none = |_: &str| None;
        assert_eq!(
            choice("", &none),
            SegmentsCacheChoice::InMemory {
                size: 10_000,
                timeout: Duration::from_secs(600)
            }
        );
        assert_eq!(
            choice(
                "client: {odp: {segmentsCache: {default: in-memory, services: \
                 {in-memory: {size: 5, timeout: 30s}}}}}",
                &none
            ),
            SegmentsCacheChoice::InMemory {
                size: 5,
                timeout: Duration::from_secs(30)
            }
        );
        // Upstream's zero values: a selected service without settings caches nothing.
        assert_eq!(
            choice(
                "client: {odp: {segmentsCache: {default: in-memory}}}",
                &none
            ),
            SegmentsCacheChoice::InMemory {
                size: 0,
                timeout: Duration::ZERO
            }
        );
        let env = |var: &str| (var == "REDIS_ODP_PASSWORD").then(|| "from-env".to_owned());
        let SegmentsCacheChoice::Redis { redis, timeout } = choice(
            "client: {odp: {segmentsCache: {default: redis, services: {redis: \
             {host: \"10.0.0.1:6380\", database: 4, timeout: 1m}}}}}",
            &env,
        ) else {
            panic!("not redis")
        };
        assert_eq!(
            (redis.host.as_str(), redis.database, redis.password.as_str()),
            ("10.0.0.1:6380", 4, "from-env")
        );
        assert_eq!(timeout, Duration::from_secs(60));
        let SegmentsCacheChoice::Redis { redis, timeout } = choice(
            "client: {odp: {segmentsCache: {default: redis, services: {redis: \
             {password: p, redis_secret: s}}}}}",
            &env,
        ) else {
            panic!("not redis")
        };
        assert_eq!(redis.host, RedisSettings::default().host);
        assert_eq!((redis.password.as_str(), timeout), ("s", Duration::ZERO));
    }

    #[test]
    fn a_segments_cache_that_cannot_be_used_is_refused_by_key() {
        assert_eq!(
            serve_err("client: {odp: {segmentsCache: {default: memcached}}}"),
            "config file ./x.yaml: key `client.odp.segmentsCache.default`: invalid value \
             \"memcached\": expected \"in-memory\" or \"redis\" (the caches agentctl has)"
        );
        assert_eq!(
            serve_err(
                "client: {odp: {segmentsCache: {default: in-memory, services: \
                 {in-memory: {size: -1}}}}}"
            ),
            "config file ./x.yaml: key `client.odp.segmentsCache.services.in-memory.size`: \
             invalid value -1: expected a whole number >= 0"
        );
        assert_eq!(
            serve_err(
                "client: {odp: {segmentsCache: {default: redis, services: \
                 {redis: {timeout: soon}}}}}"
            ),
            "config file ./x.yaml: key `client.odp.segmentsCache.services.redis.timeout`: \
             invalid value \"soon\": expected a duration such as 600s or 10m (0 = no expiry)"
        );
    }
}
