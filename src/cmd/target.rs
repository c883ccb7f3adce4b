//! What the everyday client commands point at when the command line does not say:
//! the SDK key, the Agent's URL. The choice is a pure function of what was given,
//! the environment, the datafiles directory and the settings (unit-tested below);
//! only listing the directory touches the outside world, and a key picked by
//! default is announced in one line on stderr.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::Usage;
use crate::cli::{DATAFILES_ENV, DEFAULT_DATAFILES};
use crate::config::{self, Settings};

/// The variable naming the SDK key of the client commands.
pub const SDK_KEY_ENV: &str = "AGENTCTL_SDK_KEY";

/// The SDK key to use: `given` (`--sdk-key`, or `AGENTCTL_SDK_KEY` through clap),
/// else `AGENTCTL_SDK_KEY`, else the only datafile in `./datafiles` (or
/// `AGENTCTL_DATAFILES`), else the only key of the config's `sdkKeys`. A key
/// picked by default is announced on stderr.
///
/// # Errors
///
/// [`Usage`] when there is no single candidate, saying how to give one.
pub fn sdk_key(
    given: Option<&str>,
    settings: &Settings,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<String> {
    let nonempty = |s: &String| !s.trim().is_empty();
    if let Some(key) = given.map(str::to_owned).filter(nonempty) {
        return Ok(key);
    }
    if let Some(key) = env(SDK_KEY_ENV).filter(nonempty) {
        return Ok(key);
    }
    let dir = env(DATAFILES_ENV)
        .filter(nonempty)
        .map_or_else(|| PathBuf::from(DEFAULT_DATAFILES), PathBuf::from);
    let found = datafile_keys(&dir);
    let (key, note) = choose_sdk_key(&dir.display().to_string(), &found, &settings.sdk_keys)?;
    eprintln!("agentctl: {note}");
    Ok(key)
}

/// The SDK keys of the datafiles (`<key>.json`) in `dir`, sorted; none when the
/// directory cannot be read.
fn datafile_keys(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut keys: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|e| e == "json"))
        .filter_map(|path| path.file_stem()?.to_str().map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

/// The default SDK key and the note announcing it, from the datafiles found in
/// `dir` and the config's `sdkKeys`.
fn choose_sdk_key(
    dir: &str,
    datafiles: &[String],
    sdk_keys: &[String],
) -> Result<(String, String), Usage> {
    if let [only] = datafiles {
        return Ok((
            only.clone(),
            format!("using SDK key {only:?} (the only datafile in {dir})"),
        ));
    }
    let mut configured: Vec<&String> = sdk_keys.iter().filter(|k| !k.trim().is_empty()).collect();
    configured.dedup();
    if let [only] = configured.as_slice() {
        return Ok((
            (*only).clone(),
            format!("using SDK key {only:?} (the only key of sdkKeys in the config)"),
        ));
    }
    let how = format!("give --sdk-key KEY (or set {SDK_KEY_ENV})");
    Err(Usage(if datafiles.len() > 1 {
        format!(
            "no SDK key given and {dir} holds {} datafiles ({}): {how}",
            datafiles.len(),
            datafiles.join(", ")
        )
    } else {
        format!(
            "no SDK key given: {how}, or run where {DEFAULT_DATAFILES} holds exactly one \
             <sdkKey>.json datafile"
        )
    }))
}

/// The Agent's base URL: `given` (`--url` or `AGENTCTL_URL`), else the API address
/// of the settings (`server.host:api.port`, `https` when TLS is configured; a
/// wildcard host means this machine).
pub fn agent_url(given: Option<&str>, settings: &Settings) -> String {
    if let Some(url) = given.filter(|u| !u.trim().is_empty()) {
        return normalize_url(url);
    }
    let scheme = if settings.server.cert_file.is_empty() {
        "http"
    } else {
        "https"
    };
    match config::listen_addr(settings, &settings.api.port) {
        Some(addr) => format!("{scheme}://{}", reachable(addr)),
        None => format!(
            "{scheme}://{}:{}",
            settings.server.host.trim(),
            settings.api.port
        ),
    }
}

/// The Agent's base URLs: each of `given` (the `--url`s, which clap already split
/// at commas; blanks skipped), else the one [`agent_url`] of the settings.
pub fn agent_urls(given: &[String], settings: &Settings) -> Vec<String> {
    let urls: Vec<String> = given
        .iter()
        .filter(|u| !u.trim().is_empty())
        .map(|u| normalize_url(u))
        .collect();
    if urls.is_empty() {
        vec![agent_url(None, settings)]
    } else {
        urls
    }
}

/// The address a client connects to for a listener bound to `addr`: a wildcard
/// (`0.0.0.0`, `::`) means the loopback of the same family.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        ip if !ip.is_unspecified() => ip,
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    };
    SocketAddr::new(ip, addr.port())
}

/// A base URL as typed: `host:port` (no scheme) means `http://host:port`; a
/// trailing `/` is dropped.
pub fn normalize_url(text: &str) -> String {
    let text = text.trim().trim_end_matches('/');
    if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_only_datafile_then_the_only_configured_key() {
        let (key, note) = choose_sdk_key("./datafiles", &keys(&["demo"]), &[]).unwrap();
        assert_eq!(key, "demo");
        assert_eq!(
            note,
            "using SDK key \"demo\" (the only datafile in ./datafiles)"
        );
        let (key, note) =
            choose_sdk_key("./datafiles", &keys(&["a", "b"]), &keys(&["k1"])).unwrap();
        assert_eq!(key, "k1");
        assert!(note.ends_with("(the only key of sdkKeys in the config)"));
        let err = choose_sdk_key("./datafiles", &keys(&["a", "b"]), &[]).unwrap_err();
        assert_eq!(
            err.0,
            "no SDK key given and ./datafiles holds 2 datafiles (a, b): give --sdk-key KEY \
             (or set AGENTCTL_SDK_KEY)"
        );
        let err = choose_sdk_key("./datafiles", &[], &keys(&["x", "y"])).unwrap_err();
        assert!(
            err.0.starts_with("no SDK key given: give --sdk-key"),
            "{}",
            err.0
        );
    }

    #[test]
    fn flag_then_environment_then_files() {
        let settings = Settings::default();
        let env = |k: &str| (k == SDK_KEY_ENV).then(|| "from-env".to_owned());
        assert_eq!(sdk_key(Some("flag"), &settings, &env).unwrap(), "flag");
        assert_eq!(sdk_key(None, &settings, &env).unwrap(), "from-env");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("only.json"), "{}").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "").unwrap();
        let path = dir.path().display().to_string();
        let env = |k: &str| (k == DATAFILES_ENV).then(|| path.clone());
        assert_eq!(sdk_key(None, &settings, &env).unwrap(), "only");
    }

    #[test]
    fn urls() {
        assert_eq!(normalize_url("localhost:8080"), "http://localhost:8080");
        assert_eq!(normalize_url("https://a.example/"), "https://a.example");
        let mut settings = Settings::default();
        assert_eq!(agent_url(None, &settings), "http://127.0.0.1:8080");
        assert_eq!(
            agent_url(Some("127.0.0.1:9"), &settings),
            "http://127.0.0.1:9"
        );
        assert_eq!(agent_urls(&[], &settings), ["http://127.0.0.1:8080"]);
        let given = [
            "a:1".to_owned(),
            "https://b/".to_owned(),
            " ".to_owned(),
            "c:3".to_owned(),
        ];
        assert_eq!(
            agent_urls(&given, &settings),
            ["http://a:1", "https://b", "http://c:3"]
        );
        settings.server.host = "0.0.0.0".to_owned();
        settings.api.port = "9000".to_owned();
        assert_eq!(agent_url(None, &settings), "http://127.0.0.1:9000");
        settings.server.host = "agent.internal".to_owned();
        settings.server.cert_file = "cert.pem".to_owned();
        assert_eq!(agent_url(None, &settings), "https://agent.internal:9000");
    }
}
