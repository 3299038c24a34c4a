//! Service account tokens: the TokenRequest API issues them, the API accepts them back as
//! long as what they name stands, and the OIDC discovery documents describe their key.

use crate::{Cluster, raw};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

pub(crate) async fn create_account(c: &Cluster, name: &str) -> ServiceAccount {
    let api: Api<ServiceAccount> = Api::namespaced(c.client.clone(), "default");
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
    )
    .await
    .unwrap()
}

/// POSTs a TokenRequest for `account`; the code and the answer.
pub(crate) async fn request_token(c: &Cluster, account: &str, spec: Value) -> (u16, Value) {
    let body =
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec});
    raw(
        &c.client,
        "POST",
        &format!("/api/v1/namespaces/default/serviceaccounts/{account}/token"),
        "application/json",
        serde_json::to_vec(&body).unwrap(),
    )
    .await
}

/// The status code of listing pods with `token`.
async fn list_code(c: &Cluster, token: &str) -> u16 {
    let pods: Api<Pod> = Api::namespaced(c.client_with_token(Some(token)), "default");
    match pods.list(&Default::default()).await {
        Ok(_) => 200,
        Err(kube::Error::Api(status)) => status.code,
        Err(other) => panic!("listing pods failed: {other}"),
    }
}

pub(crate) fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_requested_token_authenticates_as_its_service_account_until_the_account_goes() {
    let c = Cluster::start().await;
    let account = create_account(&c, "builder").await;
    let (code, answer) = request_token(&c, "builder", json!({})).await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["kind"], "TokenRequest");
    assert_eq!(answer["spec"]["expirationSeconds"], 3600);
    assert_eq!(
        answer["spec"]["audiences"],
        json!([rkube_server::DEFAULT_SERVICE_ACCOUNT_ISSUER])
    );
    assert!(answer["status"]["expirationTimestamp"].is_string());
    let token = answer["status"]["token"].as_str().unwrap().to_owned();
    let claims = claims(&token);
    assert_eq!(claims["sub"], "system:serviceaccount:default:builder");
    assert_eq!(claims["iss"], rkube_server::DEFAULT_SERVICE_ACCOUNT_ISSUER);
    assert_eq!(
        claims["kubernetes.io"]["serviceaccount"]["uid"],
        json!(account.metadata.uid)
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );

    assert_eq!(list_code(&c, &token).await, 200);
    // The audit log shows who it was.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let audit = std::fs::read_to_string(c.dir().join("audit.log")).unwrap();
    let event: Value = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["user"]["username"] == "system:serviceaccount:default:builder")
        .expect("the token's request is audited under the service account");
    let groups = event["user"]["groups"].as_array().unwrap();
    for group in [
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    ] {
        assert!(groups.iter().any(|g| g == group), "{groups:?}");
    }

    // A token that was tampered with, or meant for another audience, is refused.
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(list_code(&c, &forged).await, 401);
    let (_, vault) = request_token(&c, "builder", json!({"audiences": ["vault"]})).await;
    assert_eq!(vault["spec"]["audiences"], json!(["vault"]));
    assert_eq!(
        list_code(&c, vault["status"]["token"].as_str().unwrap()).await,
        401
    );

    // Deleting the account revokes the token, and a new account of the same name does
    // not bring it back (another uid).
    let accounts: Api<ServiceAccount> = Api::namespaced(c.client.clone(), "default");
    accounts
        .delete("builder", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(list_code(&c, &token).await, 401);
    create_account(&c, "builder").await;
    assert_eq!(list_code(&c, &token).await, 401);
    c.server.shutdown().await;
}

#[tokio::test]
async fn a_token_bound_to_a_pod_lives_as_long_as_the_pod() {
    let c = Cluster::start().await;
    create_account(&c, "runner").await;
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "job"},
        "spec": {"serviceAccountName": "runner", "containers": [{"name": "c", "image": "busybox"}]},
    }))
    .unwrap();
    let pod = pods.create(&PostParams::default(), &pod).await.unwrap();
    let uid = pod.metadata.uid.clone().unwrap();

    let bound = |uid: &str| json!({"expirationSeconds": 600, "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "job", "uid": uid}});
    let (code, mismatch) = request_token(&c, "runner", bound("not-the-uid")).await;
    assert_eq!(code, 409, "{mismatch}");
    assert!(
        mismatch["message"]
            .as_str()
            .unwrap()
            .contains("does not match the UID in record")
    );
    let (code, other_account) = request_token(&c, "default-less", bound(&uid)).await;
    assert_eq!(code, 404, "{other_account}");

    let (code, answer) = request_token(&c, "runner", bound(&uid)).await;
    assert_eq!(code, 201, "{answer}");
    let token = answer["status"]["token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token)["kubernetes.io"]["pod"]["uid"], json!(uid));
    assert_eq!(list_code(&c, &token).await, 200);

    pods.delete("job", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert_eq!(list_code(&c, &token).await, 401);
    c.server.shutdown().await;
}

#[tokio::test]
async fn token_requests_are_validated_as_upstream_does() {
    let c = Cluster::start().await;
    create_account(&c, "builder").await;
    let (code, short) = request_token(&c, "builder", json!({"expirationSeconds": 60})).await;
    assert_eq!(code, 422, "{short}");
    assert_eq!(short["reason"], "Invalid");
    assert_eq!(short["details"]["kind"], "TokenRequest");
    assert_eq!(
        short["details"]["causes"][0]["field"],
        "spec.expirationSeconds"
    );
    assert!(
        short["message"]
            .as_str()
            .unwrap()
            .contains("may not specify a duration less than 10 minutes")
    );

    let (code, missing) = request_token(&c, "nobody", json!({})).await;
    assert_eq!(code, 404, "{missing}");
    assert_eq!(missing["details"]["kind"], "serviceaccounts");

    let (code, kind) = request_token(
        &c,
        "builder",
        json!({"boundObjectRef": {"kind": "ConfigMap", "name": "x"}}),
    )
    .await;
    assert_eq!(code, 400, "{kind}");
    assert_eq!(
        kind["message"],
        "cannot bind token for object of kind ConfigMap"
    );

    let (code, dry) = raw(
        &c.client,
        "GET",
        "/api/v1/namespaces/default/serviceaccounts/builder/token",
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(code, 405, "{dry}");
    c.server.shutdown().await;
}

#[tokio::test]
async fn the_oidc_discovery_documents_describe_the_signing_key() {
    let c = Cluster::start().await;
    let (code, config) = raw(
        &c.client,
        "GET",
        "/.well-known/openid-configuration",
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        config["issuer"],
        rkube_server::DEFAULT_SERVICE_ACCOUNT_ISSUER
    );
    assert_eq!(
        config["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    let (code, jwks) = raw(&c.client, "GET", "/openid/v1/jwks", "", Vec::new()).await;
    assert_eq!(code, 200);
    let key = &jwks["keys"][0];
    assert_eq!(key["crv"], "P-256");

    // The key id in the JWKS is the one tokens carry.
    create_account(&c, "builder").await;
    let (_, answer) = request_token(&c, "builder", json!({})).await;
    let token = answer["status"]["token"].as_str().unwrap();
    use base64::Engine;
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], key["kid"]);
    c.server.shutdown().await;
}

#[tokio::test]
async fn only_the_finalize_subresource_changes_a_namespaces_finalizers() {
    let c = Cluster::start().await;
    let namespaces: Api<Namespace> = Api::all(c.client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "fin"}})).unwrap();
    let mut ns = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let finalizers = |ns: &Namespace| ns.spec.as_ref().unwrap().finalizers.clone().unwrap();
    assert_eq!(finalizers(&ns), ["kubernetes"]);

    ns.spec.as_mut().unwrap().finalizers = Some(vec![]);
    let updated = namespaces
        .replace("fin", &PostParams::default(), &ns)
        .await
        .unwrap();
    assert_eq!(finalizers(&updated), ["kubernetes"]);

    let finalized = namespaces
        .replace_subresource("finalize", "fin", &PostParams::default(), &ns)
        .await
        .unwrap();
    assert!(finalizers(&finalized).is_empty());
    c.server.shutdown().await;
}
