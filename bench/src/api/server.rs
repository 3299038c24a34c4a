//! Starting and stopping `rkube server`, its start-up time and its memory.

use anyhow::Context;
use rkube_testkit::ServerProcess;
use std::path::Path;
use std::time::{Duration, Instant};

/// The log message that says the server is serving.
const READY_MESSAGE: &str = "rkube server is ready";

/// Starts `binary server` on `data_dir` (on a blocking thread: the testkit
/// polls with sleeps).
pub async fn start(binary: &Path, data_dir: &Path) -> anyhow::Result<ServerProcess> {
    let (binary, data_dir) = (binary.to_owned(), data_dir.to_owned());
    // The API server alone, as upstream's reference figures are for kube-apiserver alone: with
    // no nodes, a scheduler would add a status write and an event per pod.
    tokio::task::spawn_blocking(move || {
        ServerProcess::start(&binary, &data_dir, &["--disable-scheduler"])
    })
    .await?
    .context("starting rkube server")
}

/// Stops the server with SIGTERM, saying so if it does not exit cleanly,
/// and shows the warnings and errors it logged.
pub async fn stop(mut server: ServerProcess) -> anyhow::Result<()> {
    let (clean, server) = tokio::task::spawn_blocking(move || (server.terminate(), server)).await?;
    let log = server.log();
    let complaints: Vec<String> = log
        .lines()
        .map(strip_ansi)
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    if !complaints.is_empty() {
        eprintln!(
            "  note: rkube server logged {} warning(s)/error(s), the first:\n{}",
            complaints.len(),
            complaints[..complaints.len().min(5)].join("\n")
        );
    }
    if !clean {
        eprintln!(
            "  warning: rkube server (pid {}) did not exit cleanly on SIGTERM; log tail:\n{}",
            server.pid(),
            tail(&server.log(), 20)
        );
    }
    Ok(())
}

/// Median start-up times over several starts.
#[derive(Debug)]
pub struct Startup {
    /// From spawning the process to it accepting connections with its
    /// kubeconfig written, as the testkit sees it.
    pub ready_after: Duration,
    /// The server's own `elapsed_ms` on its ready line.
    pub logged_ms: u64,
}

/// Starts and stops the server `starts` times, each on a fresh data
/// directory under `dir`.
pub async fn startup(binary: &Path, dir: &Path, starts: usize) -> anyhow::Result<Startup> {
    let (mut ready, mut logged) = (Vec::new(), Vec::new());
    for i in 0..starts {
        let server = start(binary, &dir.join(format!("start-{i}"))).await?;
        ready.push(server.ready_after());
        logged.push(logged_ready_ms(&server).await?);
        stop(server).await?;
    }
    logged.sort_unstable();
    Ok(Startup {
        ready_after: super::median(ready),
        logged_ms: logged[(logged.len() - 1) / 2],
    })
}

/// The `elapsed_ms` of the server's ready line, waiting up to 5 s for it to
/// reach the log.
async fn logged_ready_ms(server: &ServerProcess) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = server.log();
        if let Some(ms) = ready_elapsed_ms(&log) {
            return Ok(ms);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no `{READY_MESSAGE}` line with elapsed_ms in the server's log:\n{}",
            tail(&log, 20)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `elapsed_ms=<n>` from the ready line of a log (colours or not).
fn ready_elapsed_ms(log: &str) -> Option<u64> {
    let line = log
        .lines()
        .map(strip_ansi)
        .find(|l| l.contains(READY_MESSAGE))?;
    let value = line.split_once("elapsed_ms=")?.1;
    let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A line without its ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A process's resident set size, from `VmRSS` in `/proc/<pid>/status`.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    status_bytes(pid, "VmRSS")
}

/// A process's peak resident set size, from `VmHWM` in `/proc/<pid>/status`.
pub fn peak_rss_bytes(pid: u32) -> anyhow::Result<u64> {
    status_bytes(pid, "VmHWM")
}

/// A size field (in kB) of `/proc/<pid>/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .with_context(|| format!("no {field} in {path}"))?;
    Ok(kib * 1024)
}

/// The last `n` lines of a log.
fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name; 100 ticks/s.
    Ok((ticks(11) + ticks(12)) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_elapsed_ms_from_a_coloured_ready_line() {
        let log = "\u{1b}[2m2025-01-01T00:00:00Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \
                   \u{1b}[2mrkube_server\u{1b}[0m\u{1b}[2m:\u{1b}[0m rkube server is ready \
                   \u{1b}[3maddress\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:1 \
                   \u{1b}[3melapsed_ms\u{1b}[0m\u{1b}[2m=\u{1b}[0m42\n";
        assert_eq!(ready_elapsed_ms(log), Some(42));
    }

    #[test]
    fn reads_elapsed_ms_from_a_plain_ready_line() {
        let log = "x INFO other\ny INFO rkube_server: rkube server is ready elapsed_ms=7\n";
        assert_eq!(ready_elapsed_ms(log), Some(7));
        assert_eq!(ready_elapsed_ms("y INFO starting\n"), None);
    }

    #[test]
    fn reads_this_process_rss() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
    }
}
