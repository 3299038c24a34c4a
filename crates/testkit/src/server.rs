//! `rkube server` as a child process on 127.0.0.1, for end-to-end tests and benchmarks.

use crate::TestkitError;
use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `rkube server`, stopped (SIGTERM to its PID, then SIGKILL) on drop.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    port: u16,
    data_dir: PathBuf,
    kubeconfig: PathBuf,
    log_path: PathBuf,
    started: Instant,
    ready_after: Duration,
}

impl ServerProcess {
    /// Starts `binary server` on a free 127.0.0.1 port with `data_dir` and `extra` flags, and
    /// waits until it accepts connections and has written its kubeconfig.
    pub fn start(
        binary: &Path,
        data_dir: &Path,
        extra: &[&str],
    ) -> Result<ServerProcess, TestkitError> {
        std::fs::create_dir_all(data_dir)
            .map_err(TestkitError::io("creating the data directory"))?;
        let (port, _) = crate::etcd::free_ports()?;
        let kubeconfig = data_dir.join("admin.kubeconfig");
        let _ = std::fs::remove_file(&kubeconfig);
        let log_path = data_dir.with_extension("log");
        let log =
            File::create(&log_path).map_err(TestkitError::io("creating the server's log file"))?;
        let log_err = log
            .try_clone()
            .map_err(TestkitError::io("duplicating the server's log file"))?;
        let started = Instant::now();
        let child = Command::new(binary)
            .arg("server")
            .arg("--data-dir")
            .arg(data_dir)
            .args([
                "--bind-address",
                "127.0.0.1",
                "--https-listen-port",
                &port.to_string(),
            ])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(TestkitError::io("spawning rkube server"))?;
        let mut server = ServerProcess {
            child,
            port,
            data_dir: data_dir.to_owned(),
            kubeconfig,
            log_path,
            started,
            ready_after: Duration::ZERO,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<(), TestkitError> {
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(TestkitError::io("checking on rkube server"))?
            {
                return Err(TestkitError::Exited {
                    status,
                    log_tail: self.log(),
                });
            }
            if self.kubeconfig.exists() && TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                self.ready_after = self.started.elapsed();
                return Ok(());
            }
            if self.started.elapsed() > START_TIMEOUT {
                return Err(TestkitError::NotReady {
                    endpoint: self.url(),
                    waited: self.started.elapsed(),
                    last_error: "not listening".to_owned(),
                    log_tail: self.log(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's URL, `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The port it serves on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin kubeconfig it wrote.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How long after spawning it took to serve.
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    /// Everything it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (up to 10 s) for it to exit; true if it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.terminate();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
