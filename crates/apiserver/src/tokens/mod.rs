//! Service account tokens: signed JWTs issued through the TokenRequest API
//! (`serviceaccounts/<name>/token`) and accepted back as bearer tokens, with the claims,
//! key id and OIDC discovery documents upstream's API server uses.

mod request;
mod ring_provider;

pub(crate) use request::{authenticate, create_token};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::KeyPair as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The issuer upstream clusters commonly use, and rkube's default.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The DER header of a P-256 public key's SubjectPublicKeyInfo, before the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Why the signing key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenKeyError {
    /// The key is not a P-256 private key in PKCS#8 DER.
    #[error("the service account signing key is not a P-256 (ES256) key in PKCS#8: {0}")]
    Key(#[from] jsonwebtoken::errors::Error),
}

/// Why a bearer token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT of ours: bad shape, signature, issuer, audience, or expired.
    #[error("invalid service account token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

/// A name and uid, as the claims refer to objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// The object's name.
    pub name: String,
    /// The object's uid.
    pub uid: String,
}

/// The `kubernetes.io` claim: whom the token stands for and what it is bound to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaims {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account.
    pub serviceaccount: ObjectRef,
    /// The pod the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    /// The secret the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectRef>,
    /// The node the token is bound to, or the bound pod's node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
}

/// A service account token's claims, as upstream writes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Audiences.
    pub aud: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Issuer.
    pub iss: String,
    /// A unique id of this token.
    pub jti: String,
    /// Not valid before.
    pub nbf: i64,
    /// `system:serviceaccount:<namespace>:<name>`.
    pub sub: String,
    /// What the token stands for.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
}

impl Claims {
    /// Claims for a service account, valid from `now` for `seconds`.
    pub fn new(
        issuer: &str,
        audiences: Vec<String>,
        now: i64,
        seconds: i64,
        kubernetes: KubernetesClaims,
    ) -> Claims {
        Claims {
            aud: audiences,
            exp: now + seconds,
            iat: now,
            iss: issuer.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            sub: format!(
                "system:serviceaccount:{}:{}",
                kubernetes.namespace, kubernetes.serviceaccount.name
            ),
            kubernetes,
        }
    }
}

/// Issues and verifies service account tokens with one P-256 key.
pub struct ServiceAccountTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    key_id: String,
    x: String,
    y: String,
    issuer: String,
    audiences: Vec<String>,
}

impl std::fmt::Debug for ServiceAccountTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountTokens")
            .field("key_id", &self.key_id)
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountTokens {
    /// Tokens signed by the P-256 key in `pkcs8` (DER), issued by `issuer` and accepted when
    /// meant for one of `audiences` (the issuer when empty, as upstream defaults).
    pub fn new(
        pkcs8: &[u8],
        issuer: &str,
        audiences: Vec<String>,
    ) -> Result<ServiceAccountTokens, TokenKeyError> {
        ring_provider::install();
        let pair = ring_provider::key_pair(pkcs8)?;
        let point = pair.public_key().as_ref().to_vec();
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&point);
        let key_id = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &spki));
        let audiences = if audiences.is_empty() {
            vec![issuer.to_owned()]
        } else {
            audiences
        };
        Ok(ServiceAccountTokens {
            encoding: EncodingKey::from_ec_der(pkcs8),
            decoding: DecodingKey::from_ec_der(&point),
            key_id,
            x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            y: URL_SAFE_NO_PAD.encode(&point[33..65]),
            issuer: issuer.to_owned(),
            audiences,
        })
    }

    /// The issuer (`iss`) of every token.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audiences the API server accepts, and gives tokens that ask for none.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// Signs claims into a token.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenKeyError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// The claims of a token this server signed, if its signature, issuer and times hold
    /// and it is meant for one of the server's audiences. Whether the objects it names
    /// still exist is for the caller to check.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        Ok(jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)?.claims)
    }

    /// `/.well-known/openid-configuration`: where relying parties find the keys.
    pub fn openid_configuration(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/openid/v1/jwks", self.issuer.trim_end_matches('/')),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        })
    }

    /// `/openid/v1/jwks`: the public key that verifies the tokens.
    pub fn jwks(&self) -> Value {
        json!({"keys": [{
            "use": "sig", "kty": "EC", "kid": self.key_id, "crv": "P-256", "alg": "ES256",
            "x": self.x, "y": self.y,
        }]})
    }
}

/// Whether a bearer token has a JWT's shape (three dot-separated parts), as opposed to a
/// static token from the token file.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

#[cfg(test)]
mod tests;
