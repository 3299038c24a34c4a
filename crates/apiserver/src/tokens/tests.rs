use super::*;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

fn key() -> Vec<u8> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap()
        .as_ref()
        .to_vec()
}

fn issuer() -> ServiceAccountTokens {
    ServiceAccountTokens::new(&key(), DEFAULT_ISSUER, Vec::new()).unwrap()
}

fn claims(tokens: &ServiceAccountTokens, audiences: &[&str], now: i64) -> Claims {
    Claims::new(
        tokens.issuer(),
        audiences.iter().map(|a| a.to_string()).collect(),
        now,
        3600,
        KubernetesClaims {
            namespace: "default".into(),
            serviceaccount: ObjectRef {
                name: "builder".into(),
                uid: "u-1".into(),
            },
            ..KubernetesClaims::default()
        },
    )
}

fn now() -> i64 {
    rkube_api::time::now().as_second()
}

#[test]
fn a_signed_token_verifies_to_its_claims() {
    let tokens = issuer();
    let claims = claims(&tokens, &[DEFAULT_ISSUER], now());
    let token = tokens.sign(&claims).unwrap();
    assert!(looks_like_jwt(&token));
    assert_eq!(tokens.verify(&token).unwrap(), claims);
    assert_eq!(claims.sub, "system:serviceaccount:default:builder");
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(
        header.kid.as_deref(),
        tokens.jwks()["keys"][0]["kid"].as_str()
    );
}

#[test]
fn the_issuer_is_the_default_audience() {
    assert_eq!(issuer().audiences(), [DEFAULT_ISSUER]);
    let tokens = ServiceAccountTokens::new(&key(), DEFAULT_ISSUER, vec!["api".into()]).unwrap();
    assert_eq!(tokens.audiences(), ["api"]);
}

#[test]
fn tokens_for_other_audiences_expired_or_from_other_keys_are_refused() {
    let tokens = issuer();
    let other_audience = tokens.sign(&claims(&tokens, &["vault"], now())).unwrap();
    assert!(tokens.verify(&other_audience).is_err());

    let expired = tokens
        .sign(&claims(&tokens, &[DEFAULT_ISSUER], now() - 7200))
        .unwrap();
    assert!(tokens.verify(&expired).is_err());

    let not_yet = tokens
        .sign(&claims(&tokens, &[DEFAULT_ISSUER], now() + 600))
        .unwrap();
    assert!(tokens.verify(&not_yet).is_err());

    let stranger = issuer();
    let foreign = stranger
        .sign(&claims(&stranger, &[DEFAULT_ISSUER], now()))
        .unwrap();
    assert!(tokens.verify(&foreign).is_err());
}

#[test]
fn a_tampered_token_is_refused() {
    let tokens = issuer();
    let token = tokens
        .sign(&claims(&tokens, &[DEFAULT_ISSUER], now()))
        .unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["kubernetes.io"]["serviceaccount"]["name"] = json!("admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap()),
        parts[2]
    );
    assert!(tokens.verify(&forged).is_err());
    assert!(tokens.verify("not.a.jwt").is_err());
}

#[test]
fn the_jwks_holds_the_public_key_the_tokens_verify_with() {
    let tokens = issuer();
    let jwks = tokens.jwks();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    let decoding =
        DecodingKey::from_ec_components(key["x"].as_str().unwrap(), key["y"].as_str().unwrap())
            .unwrap();
    let token = tokens
        .sign(&claims(&tokens, &[DEFAULT_ISSUER], now()))
        .unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[DEFAULT_ISSUER]);
    assert!(jsonwebtoken::decode::<Claims>(&token, &decoding, &validation).is_ok());
    let config = tokens.openid_configuration();
    assert_eq!(config["issuer"], DEFAULT_ISSUER);
    assert_eq!(
        config["jwks_uri"],
        format!("{DEFAULT_ISSUER}/openid/v1/jwks")
    );
}

#[test]
fn a_key_that_is_not_p256_is_refused() {
    assert!(ServiceAccountTokens::new(b"not a key", DEFAULT_ISSUER, Vec::new()).is_err());
}
