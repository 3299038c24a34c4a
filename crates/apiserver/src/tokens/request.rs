//! The TokenRequest API (`POST serviceaccounts/<name>/token`) and the check of a presented
//! token against the objects it names.

use super::{Claims, KubernetesClaims, ObjectRef, ServiceAccountTokens};
use crate::auth::UserInfo;
use rkube_api::field::{FieldError, Path};
use rkube_api::gvk::GroupKind;
use rkube_api::status::StatusError;
use rkube_registry::{Storage, kinds};
use serde_json::{Value, json};

/// Tokens live an hour unless asked otherwise, as upstream.
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest lifetime a client may ask for: ten minutes.
const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The longest: 2^32 seconds.
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

/// Reads one core/v1 object by resource, or `None` when it does not exist.
async fn core_object(
    storage: &Storage,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Value>, StatusError> {
    let Some(info) = kinds::find("", "v1", resource) else {
        return Ok(None);
    };
    match storage.get_raw(info, namespace, name).await {
        Ok((obj, _)) => Ok(Some(obj)),
        Err(e) if e.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn object_ref(obj: &Value) -> ObjectRef {
    ObjectRef {
        name: str_at(obj, "/metadata/name").to_owned(),
        uid: str_at(obj, "/metadata/uid").to_owned(),
    }
}

fn invalid(name: &str, errors: &[FieldError]) -> StatusError {
    StatusError::invalid(
        &GroupKind {
            group: "authentication.k8s.io".to_owned(),
            kind: "TokenRequest".to_owned(),
        },
        name,
        errors,
    )
}

/// The object a token is to be bound to, checked as upstream does: it must exist, have the
/// given uid, and (for pods and secrets) belong to the service account.
async fn bound_object(
    storage: &Storage,
    namespace: &str,
    service_account: &str,
    reference: &Value,
    claims: &mut KubernetesClaims,
) -> Result<(), StatusError> {
    let kind = str_at(reference, "/kind");
    let name = str_at(reference, "/name");
    let (resource, namespace) = match kind {
        "Pod" => ("pods", Some(namespace)),
        "Secret" => ("secrets", Some(namespace)),
        "Node" => ("nodes", None),
        other => {
            return Err(StatusError::bad_request(&format!(
                "cannot bind token for object of kind {other}"
            )));
        }
    };
    let api_version = str_at(reference, "/apiVersion");
    if !api_version.is_empty() && api_version != "v1" {
        return Err(StatusError::bad_request(&format!(
            "cannot bind token for object of kind {kind} in version {api_version}"
        )));
    }
    let info = kinds::find("", "v1", resource)
        .ok_or_else(|| StatusError::internal_error("core kinds are missing"))?;
    let (obj, _) = storage.get_raw(info, namespace, name).await?;
    let found = object_ref(&obj);
    let uid = str_at(reference, "/uid");
    if !uid.is_empty() && uid != found.uid {
        return Err(StatusError::conflict(
            &info.group_resource(),
            name,
            &format!(
                "the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
        ));
    }
    match kind {
        "Pod" => {
            let account = match str_at(&obj, "/spec/serviceAccountName") {
                "" => "default",
                account => account,
            };
            if account != service_account {
                return Err(StatusError::bad_request(&format!(
                    "cannot bind token to object {name:?} with serviceaccount {account:?}"
                )));
            }
            let node = str_at(&obj, "/spec/nodeName");
            if !node.is_empty()
                && let Some(node) = core_object(storage, "nodes", None, node).await?
            {
                claims.node = Some(object_ref(&node));
            }
            claims.pod = Some(found);
        }
        "Secret" => claims.secret = Some(found),
        _ => claims.node = Some(found),
    }
    Ok(())
}

/// Serves `POST namespaces/<ns>/serviceaccounts/<name>/token`: a TokenRequest in, the same
/// with `status.token` and `status.expirationTimestamp` out.
pub(crate) async fn create_token(
    tokens: &ServiceAccountTokens,
    storage: &Storage,
    namespace: &str,
    name: &str,
    mut request: Value,
    dry_run: bool,
) -> Result<Value, StatusError> {
    let requested_name = str_at(&request, "/metadata/name");
    if !requested_name.is_empty() && requested_name != name {
        return Err(StatusError::bad_request(&format!(
            "the name of the object ({requested_name}) does not match the name on the URL ({name})"
        )));
    }
    let spec = &request["spec"];
    let seconds = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(v) => v.as_i64().ok_or_else(|| {
            invalid(
                name,
                &[FieldError::invalid(
                    &Path::new("spec").child("expirationSeconds"),
                    v.clone(),
                    "must be an integer",
                )],
            )
        })?,
    };
    let path = Path::new("spec").child("expirationSeconds");
    if seconds < MIN_EXPIRATION_SECONDS {
        return Err(invalid(
            name,
            &[FieldError::invalid(
                &path,
                json!(seconds),
                "may not specify a duration less than 10 minutes",
            )],
        ));
    }
    if seconds > MAX_EXPIRATION_SECONDS {
        return Err(invalid(
            name,
            &[FieldError::invalid(
                &path,
                json!(seconds),
                "may not specify a duration larger than 2^32 seconds",
            )],
        ));
    }
    let audiences: Vec<String> = spec["audiences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .filter(|a: &Vec<String>| !a.is_empty())
        .unwrap_or_else(|| tokens.audiences().to_vec());

    let Some(account) = core_object(storage, "serviceaccounts", Some(namespace), name).await?
    else {
        return Err(StatusError::not_found(
            &kinds::find("", "v1", "serviceaccounts")
                .map(|i| i.group_resource())
                .unwrap_or_default(),
            name,
        ));
    };
    let mut claims = KubernetesClaims {
        namespace: namespace.to_owned(),
        serviceaccount: object_ref(&account),
        ..KubernetesClaims::default()
    };
    if let Some(reference) = spec.get("boundObjectRef").filter(|r| !r.is_null()) {
        bound_object(storage, namespace, name, reference, &mut claims).await?;
    }
    let now = rkube_api::time::now().as_second();
    let claims = Claims::new(tokens.issuer(), audiences.clone(), now, seconds, claims);
    let token = if dry_run {
        String::new()
    } else {
        tokens
            .sign(&claims)
            .map_err(|e| StatusError::internal_error(&e.to_string()))?
    };
    let expires = k8s_openapi::jiff::Timestamp::from_second(claims.exp)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    request["kind"] = json!("TokenRequest");
    request["apiVersion"] = json!("authentication.k8s.io/v1");
    request["metadata"] = json!({
        "name": name,
        "namespace": namespace,
        "creationTimestamp": rkube_api::time::now_rfc3339(),
    });
    request["spec"]["audiences"] = json!(audiences);
    request["spec"]["expirationSeconds"] = json!(seconds);
    if request["spec"]["boundObjectRef"].is_null()
        && let Some(spec) = request["spec"].as_object_mut()
    {
        spec.remove("boundObjectRef");
    }
    request["status"] = json!({"token": token, "expirationTimestamp": expires});
    Ok(request)
}

/// Whether an object stands: it exists with this uid and is not being deleted.
async fn stands(
    storage: &Storage,
    resource: &str,
    namespace: Option<&str>,
    reference: &ObjectRef,
) -> bool {
    match core_object(storage, resource, namespace, &reference.name).await {
        Ok(Some(obj)) => {
            str_at(&obj, "/metadata/uid") == reference.uid
                && obj.pointer("/metadata/deletionTimestamp").is_none()
        }
        _ => false,
    }
}

/// The user a service account token stands for, if the token verifies and the service
/// account and every object it is bound to still exist (same uid, not being deleted).
pub(crate) async fn authenticate(
    tokens: &ServiceAccountTokens,
    storage: &Storage,
    token: &str,
) -> Option<UserInfo> {
    let (claims, jti) = match tokens.verify(token) {
        Ok(claims) => (claims.kubernetes, claims.jti),
        Err(err) => {
            tracing::debug!(%err, "bearer token refused");
            return None;
        }
    };
    let ns = Some(claims.namespace.as_str());
    if !stands(storage, "serviceaccounts", ns, &claims.serviceaccount).await {
        return None;
    }
    if let Some(pod) = &claims.pod
        && !stands(storage, "pods", ns, pod).await
    {
        return None;
    }
    if let Some(secret) = &claims.secret
        && !stands(storage, "secrets", ns, secret).await
    {
        return None;
    }
    if claims.pod.is_none()
        && let Some(node) = &claims.node
        && !stands(storage, "nodes", None, node).await
    {
        return None;
    }
    let mut user = UserInfo::new(
        format!(
            "system:serviceaccount:{}:{}",
            claims.namespace, claims.serviceaccount.name
        ),
        claims.serviceaccount.uid.clone(),
        vec![
            "system:serviceaccounts".to_owned(),
            format!("system:serviceaccounts:{}", claims.namespace),
        ],
    );
    // What upstream's service account authenticator adds: the token's id and the pod and
    // node it is bound to.
    if !jti.is_empty() {
        user = user.with_extra(crate::auth::CREDENTIAL_ID, format!("JTI={jti}"));
    }
    for (kind, reference) in [("pod", &claims.pod), ("node", &claims.node)] {
        if let Some(reference) = reference {
            user = user
                .with_extra(
                    &format!("authentication.kubernetes.io/{kind}-name"),
                    reference.name.clone(),
                )
                .with_extra(
                    &format!("authentication.kubernetes.io/{kind}-uid"),
                    reference.uid.clone(),
                );
        }
    }
    Some(user)
}
