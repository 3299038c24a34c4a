//! A real etcd server for tests and benchmarks.
//!
//! [`EtcdProcess::start`] runs `/usr/bin/etcd` (or `etcd` from `PATH`) as a
//! one-member cluster listening only on 127.0.0.1, with a fresh temporary
//! data directory. Dropping the handle kills that process (by its PID) and
//! removes the directory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Where Debian's `etcd-server` package installs the server.
const DEFAULT_BINARY: &str = "/usr/bin/etcd";
/// How long etcd may take to answer after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);
/// How much of the end of etcd's log an error carries.
const LOG_TAIL_BYTES: u64 = 4096;
/// The member name of the one-member cluster.
const MEMBER_NAME: &str = "rkube-test";

/// Why an etcd server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// No etcd binary was found.
    #[error(
        "etcd not found at {DEFAULT_BINARY} nor on PATH: install it with `apt-get install etcd-server`"
    )]
    EtcdNotInstalled,
    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// etcd exited before it answered.
    #[error("etcd exited during start-up ({status}); end of its log:\n{log_tail}")]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// The end of its log.
        log_tail: String,
    },
    /// etcd kept running but did not answer in time.
    #[error(
        "etcd did not answer on {endpoint} within {waited:?} (last error: {last_error}); end of its log:\n{log_tail}"
    )]
    NotReady {
        /// The client URL that was probed.
        endpoint: String,
        /// How long the probes went on.
        waited: Duration,
        /// The last probe's failure.
        last_error: String,
        /// The end of its log.
        log_tail: String,
    },
}

impl TestkitError {
    pub(crate) fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| TestkitError::Io { context, source }
    }

    /// Whether etcd failed because a port picked for it was taken meanwhile.
    fn is_port_taken(&self) -> bool {
        matches!(self, TestkitError::Exited { log_tail, .. } if log_tail.contains("address already in use"))
    }
}

/// A running etcd server on 127.0.0.1, killed (by PID) and deleted on drop.
#[derive(Debug)]
pub struct EtcdProcess {
    child: Child,
    endpoint: String,
    data_dir: PathBuf,
    log_path: PathBuf,
    // Dropped (removed) after `Drop::drop` has killed the process.
    _dir: TempDir,
}

impl EtcdProcess {
    /// Starts etcd on free 127.0.0.1 ports with a fresh data directory and
    /// waits (up to 20 s) until it serves requests. Tries once more with new
    /// ports if a picked port was taken before etcd could bind it.
    pub async fn start() -> Result<EtcdProcess, TestkitError> {
        let binary = find_binary()?;
        match Self::start_once(&binary).await {
            Err(err) if err.is_port_taken() => Self::start_once(&binary).await,
            result => result,
        }
    }

    /// The client URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The server's data directory (inside a temporary directory).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn start_once(binary: &Path) -> Result<EtcdProcess, TestkitError> {
        let dir = tempfile::Builder::new()
            .prefix("rkube-etcd-")
            .tempdir()
            .map_err(TestkitError::io("creating a temporary directory for etcd"))?;
        let data_dir = dir.path().join("data");
        let log_path = dir.path().join("etcd.log");
        let log = File::create(&log_path).map_err(TestkitError::io("creating etcd's log file"))?;
        let log_err = log
            .try_clone()
            .map_err(TestkitError::io("duplicating etcd's log file"))?;
        let (client_port, peer_port) = free_ports()?;
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");

        let mut command = Command::new(binary);
        // Settings from the environment (ETCD_LISTEN_METRICS_URLS, …) could
        // make etcd listen elsewhere: only the flags below count.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ETCD_") {
                command.env_remove(&name);
            }
        }
        command
            .arg("--name")
            .arg(MEMBER_NAME)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .arg("--initial-cluster")
            .arg(format!("{MEMBER_NAME}={peer_url}"))
            .args(["--initial-cluster-state", "new"])
            .arg("--initial-cluster-token")
            .arg(format!("rkube-test-{client_port}"))
            // A shorter election timeout than the default 1 s: a one-member
            // cluster elects itself sooner, and tests start faster.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(["--logger", "zap"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let child = command.spawn().map_err(TestkitError::io("spawning etcd"))?;

        let mut process = EtcdProcess {
            child,
            endpoint: client_url,
            data_dir,
            log_path,
            _dir: dir,
        };
        process
            .wait_ready(SocketAddr::from(([127, 0, 0, 1], client_port)))
            .await?;
        Ok(process)
    }

    async fn wait_ready(&mut self, addr: SocketAddr) -> Result<(), TestkitError> {
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(TestkitError::io("checking on etcd"))?
            {
                return Err(TestkitError::Exited {
                    status,
                    log_tail: self.log_tail(),
                });
            }
            let last_error = match self.probe(addr).await {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            if started.elapsed() >= START_TIMEOUT {
                return Err(TestkitError::NotReady {
                    endpoint: self.endpoint.clone(),
                    waited: started.elapsed(),
                    last_error,
                    log_tail: self.log_tail(),
                });
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    /// One readiness check: the port accepts, and etcd answers a status
    /// request and a linearizable read (which needs an elected leader).
    async fn probe(&self, addr: SocketAddr) -> Result<(), String> {
        // Loopback connects succeed or are refused at once.
        TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            .map_err(|err| format!("connect {addr}: {err}"))?;
        let endpoint = self.endpoint.clone();
        let answer = async move {
            let options = etcd_client::ConnectOptions::new().with_connect_timeout(PROBE_TIMEOUT);
            let mut client = etcd_client::Client::connect([endpoint], Some(options)).await?;
            client.status().await?;
            client.get("/rkube-testkit/ready", None).await?;
            Ok::<(), etcd_client::Error>(())
        };
        match tokio::time::timeout(PROBE_TIMEOUT, answer).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
        }
    }

    /// The last few KiB of etcd's log, for error messages.
    fn log_tail(&self) -> String {
        let read = || -> std::io::Result<String> {
            let mut file = File::open(&self.log_path)?;
            let len = file.metadata()?.len();
            file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        read().unwrap_or_else(|err| format!("(cannot read {}: {err})", self.log_path.display()))
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        // By PID (the child handle), never by name. Errors mean it is gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/usr/bin/etcd`, else the first `etcd` on `PATH`.
fn find_binary() -> Result<PathBuf, TestkitError> {
    let default = PathBuf::from(DEFAULT_BINARY);
    if default.is_file() {
        return Ok(default);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file())
        .ok_or(TestkitError::EtcdNotInstalled)
}

/// Two distinct free ports on 127.0.0.1 (bound at once, then released).
pub(crate) fn free_ports() -> Result<(u16, u16), TestkitError> {
    let bind = || {
        TcpListener::bind(("127.0.0.1", 0))
            .and_then(|listener| Ok((listener.local_addr()?.port(), listener)))
            .map_err(TestkitError::io("picking a free port on 127.0.0.1"))
    };
    let (client, _client_listener) = bind()?;
    let (peer, _peer_listener) = bind()?;
    Ok((client, peer))
}
