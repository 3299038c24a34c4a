//! Stock kubectl run against a test server, as a user would run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// kubectl 1.33, the version rkube reports.
pub const KUBECTL_133: &str = "/usr/bin/kubectl";
/// kubectl 1.27, the oldest one tests use.
pub const KUBECTL_127: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";

/// One kubectl binary with a kubeconfig and a scratch directory (its `HOME`).
#[derive(Debug, Clone)]
pub struct Kubectl {
    /// The binary.
    pub binary: &'static str,
    /// The kubeconfig it uses.
    pub kubeconfig: PathBuf,
    /// Its home and the place for manifests.
    pub dir: PathBuf,
}

impl Kubectl {
    /// kubectl `binary` with `kubeconfig`, keeping its files in `dir`.
    pub fn new(binary: &'static str, kubeconfig: &Path, dir: &Path) -> Kubectl {
        Kubectl {
            binary,
            kubeconfig: kubeconfig.to_owned(),
            dir: dir.to_owned(),
        }
    }

    /// The command for `args`, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.binary);
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.dir)
            .args(args);
        cmd
    }

    /// Runs kubectl with `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run kubectl")
    }

    /// Runs kubectl and returns its stdout, failing the test if it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure and returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} should fail:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs kubectl until its stdout satisfies `check` (at most a minute); returns it.
    pub fn until(&self, args: &[&str], check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.run(args);
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && check(&stdout) {
                return stdout;
            }
            assert!(
                Instant::now() < deadline,
                "kubectl {args:?} never got there; last:\n{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `kubectl get KIND NAME -n NS -o jsonpath=PATH`.
    pub fn jsonpath(&self, kind: &str, name: &str, namespace: &str, path: &str) -> String {
        self.ok(&[
            "get",
            kind,
            name,
            "-n",
            namespace,
            "-o",
            &format!("jsonpath={path}"),
        ])
    }

    /// Writes a file into the scratch directory; returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write a manifest");
        path.to_str().expect("a UTF-8 path").to_owned()
    }
}
