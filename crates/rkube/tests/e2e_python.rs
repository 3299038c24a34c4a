//! End to end: the official Python client (`kubernetes` 37.x from PyPI) against the real
//! `rkube server` binary — a script (`python/client_journey.py`) creates a namespace, a
//! ConfigMap and a Deployment, lists them by label, patches them (strategic merge, merge and
//! JSON patch), watches ConfigMaps change, and deletes everything.
//!
//! The interpreter is `$RKUBE_TEST_PYTHON` (scripts/test points it at a virtualenv with the
//! client installed), else `python3`; the test fails, rather than skips, when the client is
//! missing.

use rkube_testkit::ServerProcess;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const JOURNEY: &str = include_str!("python/client_journey.py");
/// How long the script may take (it waits up to a minute for the namespace to go).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

fn python() -> String {
    std::env::var("RKUBE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Runs `python script` with `KUBECONFIG`, killing it (by its PID) if it outlives the timeout.
fn run_script(script: &Path, kubeconfig: &Path) -> Output {
    let child = Command::new(python())
        .arg(script)
        .env("KUBECONFIG", kubeconfig)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    let pid = child.id();
    let started = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output().expect("wait for python"));
    while !waiter.is_finished() {
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    waiter.join().expect("the waiting thread")
}

#[test]
fn the_python_client_creates_lists_patches_watches_and_deletes() {
    let check = Command::new(python())
        .args(["-c", "import kubernetes; print(kubernetes.__version__)"])
        .output()
        .expect("run python");
    assert!(
        check.status.success(),
        "{} cannot import the kubernetes client; install it with `pip install 'kubernetes==37.*'` \
         (scripts/test does, in a virtualenv):\n{}",
        python(),
        String::from_utf8_lossy(&check.stderr)
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_rkube")),
        &dir.path().join("data"),
        &["--controllers=namespace"],
    )
    .expect("rkube server starts");
    let script = dir.path().join("client_journey.py");
    std::fs::write(&script, JOURNEY).expect("write the script");

    let out = run_script(&script, server.kubeconfig());
    assert!(
        out.status.success(),
        "the Python client's journey failed ({}; kubernetes {}):\n--- stdout\n{}\n--- stderr\n{}\n--- server log (tail)\n{}",
        out.status,
        String::from_utf8_lossy(&check.stdout).trim(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        tail(&server.log(), 40),
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("python client: every check passed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
