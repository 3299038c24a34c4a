//! The cluster's certificates: a CA, the API server's serving certificate
//! and an admin client certificate, made on first start and reused after.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// PEM certificate and key files of one identity.
#[derive(Clone, Debug)]
pub struct CertFiles {
    /// The certificate.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// Every certificate the server uses, under `<data-dir>/tls`.
#[derive(Clone, Debug)]
pub struct Pki {
    /// The cluster CA.
    pub ca: CertFiles,
    /// The API server's serving certificate.
    pub serving: CertFiles,
    /// The admin client certificate (CN system:admin, O system:masters).
    pub admin: CertFiles,
    /// The P-256 private key (PKCS#8 PEM) that signs service account tokens.
    pub service_account_key: PathBuf,
}

fn files(dir: &Path, name: &str) -> CertFiles {
    CertFiles {
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    }
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn leaf_params(common_name: &str, organization: Option<&str>) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if let Some(org) = organization {
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
    }
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2034, 1, 1);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    Ok(params)
}

impl Pki {
    /// Loads the certificates under `dir`, making whatever is missing. The
    /// serving certificate covers `hosts` (names and addresses).
    pub fn ensure(dir: &Path, hosts: &[String]) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let pki = Pki {
            ca: files(dir, "ca"),
            serving: files(dir, "serving"),
            admin: files(dir, "admin"),
            service_account_key: dir.join("service-account.key"),
        };
        let ca_key = if pki.ca.cert.exists() && pki.ca.key.exists() {
            KeyPair::from_pem(&std::fs::read_to_string(&pki.ca.key)?)
                .context("reading the CA key")?
        } else {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params
                .distinguished_name
                .push(DnType::CommonName, "rkube-ca");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.not_before = rcgen::date_time_ymd(2024, 1, 1);
            params.not_after = rcgen::date_time_ymd(2044, 1, 1);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let cert = params.self_signed(&key)?;
            write_private(&pki.ca.key, &key.serialize_pem())?;
            std::fs::write(&pki.ca.cert, cert.pem())?;
            tracing::info!(cert = %pki.ca.cert.display(), "made the cluster CA");
            key
        };
        let ca_pem = std::fs::read_to_string(&pki.ca.cert)?;
        let issuer =
            Issuer::from_ca_cert_pem(&ca_pem, &ca_key).context("reading the CA certificate")?;

        let serving_ok = pki.serving.cert.exists()
            && pki.serving.key.exists()
            && covers(&pki.serving.cert, hosts)?;
        if !serving_ok {
            if pki.serving.cert.exists() {
                tracing::info!("reissuing the serving certificate to cover new names or addresses");
            }
            let key = KeyPair::generate()?;
            let mut params = leaf_params("rkube-apiserver", None)?;
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            for host in hosts {
                params.subject_alt_names.push(match host.parse::<IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(host.clone().try_into()?),
                });
            }
            let cert = params.signed_by(&key, &issuer)?;
            write_private(&pki.serving.key, &key.serialize_pem())?;
            std::fs::write(&pki.serving.cert, cert.pem())?;
        }
        if !(pki.admin.cert.exists() && pki.admin.key.exists()) {
            let key = KeyPair::generate()?;
            let mut params = leaf_params("system:admin", Some("system:masters"))?;
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let cert = params.signed_by(&key, &issuer)?;
            write_private(&pki.admin.key, &key.serialize_pem())?;
            std::fs::write(&pki.admin.cert, cert.pem())?;
        }
        if !pki.service_account_key.exists() {
            write_private(
                &pki.service_account_key,
                &KeyPair::generate()?.serialize_pem(),
            )?;
        }
        Ok(pki)
    }

    /// The service account signing key in PKCS#8 DER.
    pub fn service_account_key_der(&self) -> Result<Vec<u8>> {
        let pem = std::fs::read_to_string(&self.service_account_key)
            .with_context(|| format!("reading {}", self.service_account_key.display()))?;
        Ok(KeyPair::from_pem(&pem)
            .with_context(|| {
                format!(
                    "{} is not a private key",
                    self.service_account_key.display()
                )
            })?
            .serialize_der())
    }

    /// Signs a client certificate for `user` in `groups` (for tests and
    /// tools); returns PEM certificate and key.
    pub fn client_cert(&self, user: &str, groups: &[&str]) -> Result<(String, String)> {
        let ca_key = KeyPair::from_pem(&std::fs::read_to_string(&self.ca.key)?)?;
        let issuer = Issuer::from_ca_cert_pem(&std::fs::read_to_string(&self.ca.cert)?, &ca_key)?;
        let key = KeyPair::generate()?;
        let mut params = leaf_params(user, None)?;
        for group in groups {
            params
                .distinguished_name
                .push(DnType::OrganizationName, *group);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// Whether the certificate at `path` names every one of `hosts` among its SANs.
fn covers(path: &Path, hosts: &[String]) -> Result<bool> {
    use x509_parser::extensions::GeneralName;
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{} is not a PEM certificate: {e}", path.display()))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| anyhow::anyhow!("{} is not a certificate: {e}", path.display()))?;
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => names.push(IpAddr::from(<[u8; 4]>::try_from(*bytes)?).to_string()),
                    16 => names.push(IpAddr::from(<[u8; 16]>::try_from(*bytes)?).to_string()),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(hosts.iter().all(|h| names.contains(h)))
}

/// The machine's own IPv4 addresses other than loopback, from `/proc/net/fib_trie`
/// (addresses marked `host LOCAL`).
pub fn node_addresses() -> Vec<IpAddr> {
    let Ok(trie) = std::fs::read_to_string("/proc/net/fib_trie") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut last: Option<IpAddr> = None;
    for line in trie.lines() {
        let line = line.trim();
        if let Some(addr) = line.strip_prefix("|-- ") {
            last = addr.parse().ok();
        } else if line.ends_with("host LOCAL")
            && let Some(ip) = last
            && !ip.is_loopback()
            && !out.contains(&ip)
        {
            out.push(ip);
        }
    }
    out
}

/// Writes an admin kubeconfig for `server` (e.g. `https://127.0.0.1:6443`).
pub fn write_kubeconfig(path: &Path, server: &str, pki: &Pki) -> Result<()> {
    use base64::Engine;
    let b64 = |p: &Path| -> Result<String> {
        Ok(base64::engine::general_purpose::STANDARD.encode(std::fs::read(p)?))
    };
    let config = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: rkube
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: admin
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: rkube
  context:
    cluster: rkube
    user: admin
current-context: rkube
",
        ca = b64(&pki.ca.cert)?,
        cert = b64(&pki.admin.cert)?,
        key = b64(&pki.admin.key)?,
    );
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    write_private(path, &config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_reuses_certificates_and_reissues_for_new_names() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let pki = Pki::ensure(dir.path(), &hosts).unwrap();
        assert!(covers(&pki.serving.cert, &hosts).unwrap());
        let (ca, serving) = (
            std::fs::read(&pki.ca.cert).unwrap(),
            std::fs::read(&pki.serving.cert).unwrap(),
        );

        let pki = Pki::ensure(dir.path(), &hosts).unwrap();
        assert_eq!(
            std::fs::read(&pki.serving.cert).unwrap(),
            serving,
            "same names: reused"
        );

        let more = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "10.1.2.3".to_owned(),
            "node-a".to_owned(),
        ];
        assert!(!covers(&pki.serving.cert, &more).unwrap());
        let pki = Pki::ensure(dir.path(), &more).unwrap();
        assert_ne!(
            std::fs::read(&pki.serving.cert).unwrap(),
            serving,
            "new names: reissued"
        );
        assert!(covers(&pki.serving.cert, &more).unwrap());
        assert_eq!(std::fs::read(&pki.ca.cert).unwrap(), ca, "the CA stays");
    }

    #[test]
    fn node_addresses_are_not_loopback() {
        assert!(node_addresses().iter().all(|ip| !ip.is_loopback()));
    }
}
