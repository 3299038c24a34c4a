//! Failing nodes from outside the process: a control file naming the nodes to fail, one per
//! line, read again every time [`ControlFile::poll`] is called (the `rkube sim` command calls
//! it every second). Removing a name recovers the node.

use crate::{Sim, SimError};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The control file and the failures it has caused so far.
#[derive(Debug)]
pub struct ControlFile {
    path: PathBuf,
    /// Nodes failed from the start (`--fail-node`); they stay failed.
    fixed: BTreeSet<String>,
    /// Nodes the file has failed.
    failed: BTreeSet<String>,
}

/// The node names a control file lists: one per line; blank lines and `#` comments are
/// skipped.
pub fn parse_control_file(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

impl ControlFile {
    /// A control file at `path`; `fixed` are the nodes that started failed.
    pub fn new(path: PathBuf, fixed: &[String]) -> ControlFile {
        ControlFile {
            path,
            fixed: fixed.iter().cloned().collect(),
            failed: BTreeSet::new(),
        }
    }

    /// Reads the file (missing means empty) and fails or recovers nodes to match it.
    /// Names that are not simulated nodes are logged and skipped.
    pub fn poll(&mut self, sim: &Sim) -> Result<(), SimError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => {
                tracing::warn!(path = %self.path.display(), %err, "reading the control file");
                return Ok(());
            }
        };
        let wanted: BTreeSet<String> = parse_control_file(&text)
            .into_iter()
            .filter(|name| !self.fixed.contains(name))
            .collect();
        for name in wanted.difference(&self.failed) {
            match sim.fail_node(name) {
                Err(SimError::UnknownNode(_)) => {
                    tracing::warn!(node = %name, "control file names an unknown node");
                }
                other => other?,
            }
        }
        for name in self.failed.difference(&wanted) {
            match sim.recover_node(name) {
                Err(SimError::UnknownNode(_)) => {}
                other => other?,
            }
        }
        self.failed = wanted;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_one_node_per_line_without_comments() {
        let names = parse_control_file("sim-0001\n\n  sim-0003  # flaky\n# sim-0004\n");
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["sim-0001", "sim-0003"]
        );
    }
}
