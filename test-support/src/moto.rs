//! A moto server on a free loopback port, for tests and the local stack.
//!
//! It lives here, not in `orderflow-aws`, because no function ever starts
//! one: the production crate ships only what runs in Lambda. The
//! `local-stack` command depends on this module (feature `moto`) rather
//! than owning it, because it is a test harness too, and the end-to-end
//! tests, the adapters' tests and the CLI's operator tests need the same
//! server without depending on the local stack's handlers and clients.
//!
//! `moto_server` comes from `ORDERFLOW_MOTO_SERVER`, else the workspace's
//! `deploy/.venv/lint` (made by `cargo xtask setup`), else `PATH`. The server is killed when the
//! [`MotoServer`] is dropped. Clients are pointed at it through the
//! [`SdkConfig`] that [`MotoServer::sdk_config`] builds, never through the
//! process environment, so tests running in parallel each talk to their own.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";
/// The dummy access key id and secret (moto accepts any).
pub const ACCESS_KEY: &str = "testing";
/// moto's account id.
pub const ACCOUNT: &str = "123456789012";
const STARTUP: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error(
        "cannot start {command}: {source} (`cargo xtask setup` installs it into deploy/.venv, or set ORDERFLOW_MOTO_SERVER)"
    )]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{command} exited before answering ({status}); its log:\n{log}")]
    Exited {
        command: String,
        status: std::process::ExitStatus,
        log: String,
    },
    #[error("{command} did not answer on {addr} within {seconds} s; its log:\n{log}")]
    Timeout {
        command: String,
        addr: SocketAddr,
        seconds: u64,
        log: String,
    },
    #[error("no free loopback port: {0}")]
    Port(std::io::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub struct MotoServer {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    /// Where moto's request recorder writes (one file per server).
    recording: PathBuf,
}

fn free_port() -> Result<u16, MotoError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(MotoError::Port)?;
    Ok(listener.local_addr().map_err(MotoError::Port)?.port())
}

/// One plain HTTP request to moto's own API: is it up?
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

impl MotoServer {
    /// Starts a server and waits until it answers.
    pub fn start() -> Result<MotoServer, MotoError> {
        let command = std::env::var("ORDERFLOW_MOTO_SERVER").unwrap_or_else(|_| default_command());
        let mut last = None;
        // A port found free can be taken before moto binds it: try another.
        for _ in 0..3 {
            match Self::start_on(&command, free_port()?) {
                Ok(server) => return Ok(server),
                Err(e @ MotoError::Exited { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn start_on(command: &str, port: u16) -> Result<MotoServer, MotoError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log =
            std::env::temp_dir().join(format!("orderflow-moto-{}-{port}.log", std::process::id()));
        let out = std::fs::File::create(&log)?;
        let recording = log.with_extension("recording");
        let child = Command::new(command)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|source| MotoError::Spawn {
                command: command.to_string(),
                source,
            })?;
        let mut server = MotoServer {
            child,
            addr,
            log,
            recording,
        };
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                return Err(MotoError::Exited {
                    command: command.to_string(),
                    status,
                    log: server.log_text(),
                });
            }
            if answers(addr) {
                tracing::debug!(%addr, ms = started.elapsed().as_millis() as u64, "moto server up");
                return Ok(server);
            }
            if started.elapsed() > STARTUP {
                return Err(MotoError::Timeout {
                    command: command.to_string(),
                    addr,
                    seconds: STARTUP.as_secs(),
                    log: server.log_text(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Starts moto's request recorder afresh: [`recorded`](Self::recorded)
    /// then names every AWS call made from here on. Counts, not timings.
    pub fn start_recording(&self) -> Result<(), MotoError> {
        self.moto_api("reset-recording")?;
        self.moto_api("start-recording")
    }

    /// The action of each request recorded since [`start_recording`]
    /// (`BatchWriteItem`, `PublishBatch`, `PutObject` …), in order. JSON
    /// protocols name it in `X-Amz-Target`, query protocols in the form
    /// body's `Action`; anything else (S3's REST) is `METHOD path`.
    ///
    /// [`start_recording`]: Self::start_recording
    pub fn recorded(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|r| recorded_action(&r))
            .collect()
    }

    /// How many recorded requests were `action`.
    pub fn calls(&self, action: &str) -> usize {
        self.recorded().iter().filter(|a| *a == action).count()
    }

    fn moto_api(&self, what: &str) -> Result<(), MotoError> {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let request = format!(
            "POST /moto-api/recorder/{what} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
        );
        s.write_all(request.as_bytes())?;
        let mut response = String::new();
        s.read_to_string(&mut response)?;
        if response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            Err(MotoError::Io(std::io::Error::other(format!(
                "moto recorder {what}: {}",
                response.lines().next().unwrap_or("no answer")
            ))))
        }
    }

    /// SDK configuration for this server: its endpoint, moto's region, and
    /// dummy static credentials (moto accepts any).
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint()).await
    }
}

fn recorded_action(r: &serde_json::Value) -> String {
    let headers = r["headers"].as_object();
    let header = |name: &str| {
        headers?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    };
    if let Some(target) = header("X-Amz-Target") {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    let body = r["body"].as_str().unwrap_or_default();
    let body = if r["body_encoded"].as_bool() == Some(true) {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        body.to_string()
    };
    if let Some(action) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        return action.to_string();
    }
    let url = r["url"].as_str().unwrap_or_default();
    let path = url
        .split("://")
        .nth(1)
        .and_then(|u| u.find('/').map(|i| &u[i..]))
        .unwrap_or(url);
    format!(
        "{} {}",
        r["method"].as_str().unwrap_or("?"),
        path.split('?').next().unwrap_or(path)
    )
}

/// SDK configuration for a local endpoint with dummy credentials.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            ACCESS_KEY,
            ACCESS_KEY,
            None,
            None,
            "orderflow-local",
        ))
        .load()
        .await
}

/// The `moto_server` of the workspace's virtualenv (what `cargo xtask setup`
/// installs, from the hashed lock) when it is there, else the one on `PATH`.
fn default_command() -> String {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/.venv/lint/bin/moto_server");
    if venv.exists() {
        venv.display().to_string()
    } else {
        "moto_server".into()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
