//! Who is asking (authentication) and whether they may (authorization).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// An authenticated user, as upstream's `user.Info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name (a certificate's CN, a token's user).
    pub name: String,
    /// The user's uid, if known.
    pub uid: String,
    /// Groups (a certificate's O entries); `system:authenticated` is added.
    pub groups: Vec<String>,
    /// What else the authenticator knows, as upstream's `extra`: the credential's id
    /// (`authentication.kubernetes.io/credential-id`), a service account token's bound pod
    /// and node.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The `extra` key naming the credential a request was authenticated with.
pub const CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";

impl UserInfo {
    /// A user with these groups, plus `system:authenticated`.
    pub fn new(name: impl Into<String>, uid: impl Into<String>, mut groups: Vec<String>) -> Self {
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".to_owned());
        }
        UserInfo {
            name: name.into(),
            uid: uid.into(),
            groups,
            extra: BTreeMap::new(),
        }
    }

    /// The same user with one more `extra` value under `key`.
    pub fn with_extra(mut self, key: &str, value: impl Into<String>) -> Self {
        self.extra
            .entry(key.to_owned())
            .or_default()
            .push(value.into());
        self
    }
}

/// The credential id upstream records for a user authenticated by a client certificate:
/// `X509SHA256=` and the hex SHA-256 of the certificate's DER bytes.
pub fn certificate_credential_id(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("X509SHA256={hex}")
}

/// Why a token file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("reading token file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `token,user,uid[,"group1,group2"]`.
    #[error("token file {path}, line {line}: expected token,user,uid[,\"group1,group2\"]")]
    Line {
        /// The file.
        path: String,
        /// The 1-based line number.
        line: usize,
    },
}

/// Bearer tokens from a static file in kube-apiserver's `--token-auth-file`
/// format: `token,user,uid,"group1,group2"` per line.
#[derive(Clone, Debug, Default)]
pub struct TokenFile {
    tokens: HashMap<String, UserInfo>,
}

/// Splits one CSV line, honouring double quotes.
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    fields.push(current);
    fields.into_iter().map(|f| f.trim().to_owned()).collect()
}

impl TokenFile {
    /// Parses token file contents.
    pub fn parse(contents: &str, path: &str) -> Result<Self, TokenFileError> {
        let mut tokens = HashMap::new();
        for (i, line) in contents.lines().enumerate() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let fields = csv_fields(line);
            if fields.len() < 3 || fields[0].is_empty() || fields[1].is_empty() {
                return Err(TokenFileError::Line {
                    path: path.to_owned(),
                    line: i + 1,
                });
            }
            let groups = fields
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            tokens.insert(
                fields[0].clone(),
                UserInfo::new(&fields[1], &fields[2], groups),
            );
        }
        Ok(TokenFile { tokens })
    }

    /// Reads a token file.
    pub fn load(path: &Path) -> Result<Self, TokenFileError> {
        let display = path.display().to_string();
        let contents = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
            path: display.clone(),
            source,
        })?;
        Self::parse(&contents, &display)
    }

    /// The user a bearer token belongs to.
    pub fn user(&self, token: &str) -> Option<&UserInfo> {
        self.tokens.get(token)
    }
}

/// What is asked, for authorization.
#[derive(Clone, Debug)]
pub struct Attributes<'a> {
    /// Verb (`get`, `list`, …, or the HTTP verb for non-resource paths).
    pub verb: &'a str,
    /// API group.
    pub group: &'a str,
    /// Resource.
    pub resource: &'a str,
    /// Subresource.
    pub subresource: Option<&'a str>,
    /// Namespace.
    pub namespace: Option<&'a str>,
    /// Object name.
    pub name: Option<&'a str>,
    /// The path, for non-resource requests.
    pub path: &'a str,
}

/// An authorization decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused, with the reason shown to the user.
    Deny(String),
}

/// Decides whether a user may make a request (RBAC comes later).
pub trait Authorizer: Send + Sync {
    /// The decision for `user` asking for `attrs`.
    fn authorize(&self, user: &UserInfo, attrs: &Attributes<'_>) -> Decision;
}

/// Allows every authenticated user everything.
#[derive(Debug, Default)]
pub struct AllowAuthenticated;

impl Authorizer for AllowAuthenticated {
    fn authorize(&self, _user: &UserInfo, _attrs: &Attributes<'_>) -> Decision {
        Decision::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_in_kube_apiserver_format() {
        let file =
            TokenFile::parse("t1,alice,1001,\"dev,ops\"\n# comment\nt2,bob,1002\n", "f").unwrap();
        let alice = file.user("t1").unwrap();
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(file.user("t2").unwrap().groups, ["system:authenticated"]);
        assert!(file.user("t3").is_none());
        assert!(TokenFile::parse("justatoken\n", "f").is_err());
    }

    #[test]
    fn certificates_are_identified_by_their_sha256() {
        // SHA-256 of the empty input.
        assert_eq!(
            certificate_credential_id(b""),
            "X509SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
