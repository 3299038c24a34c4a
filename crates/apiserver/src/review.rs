//! Reviews: resources that are created and answered from the request alone, never stored
//! (their [`ResourceInfo::stored`] is false), so they bypass storage, watch caches and
//! admission. SelfSubjectReview (`kubectl auth whoami`) answers with the user the request was
//! authenticated as.

use crate::auth::UserInfo;
use crate::negotiate;
use crate::request::{Query, ResourceRequest, Verb};
use crate::respond;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use rkube_api::status::StatusError;
use rkube_registry::ResourceInfo;
use serde_json::{Value, json};

/// What upstream answers a verb a path does not serve with.
fn method_not_allowed() -> StatusError {
    StatusError {
        code: 405,
        reason: "MethodNotAllowed".to_owned(),
        message: "the server does not allow this method on the requested resource".to_owned(),
        details: None,
    }
}

/// `status.userInfo` of a SelfSubjectReview, with upstream's empty fields left out.
pub(crate) fn user_info(user: &UserInfo) -> Value {
    let mut info = json!({"username": user.name});
    if !user.uid.is_empty() {
        info["uid"] = json!(user.uid);
    }
    if !user.groups.is_empty() {
        info["groups"] = json!(user.groups);
    }
    if !user.extra.is_empty() {
        info["extra"] = json!(user.extra);
    }
    info
}

/// Serves a request for a review resource: only a create of the collection exists.
pub(crate) fn serve(
    info: &ResourceInfo,
    rr: &ResourceRequest,
    query: &Query,
    user: &UserInfo,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, StatusError> {
    if rr.namespace.is_some() || rr.name.is_some() || rr.subresource.is_some() {
        return Err(StatusError::not_found_message(
            "the server could not find the requested resource",
        ));
    }
    if rr.verb != Verb::Create {
        return Err(method_not_allowed());
    }
    crate::resource::dry_run(query)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    negotiate::choose_output(header("accept"))?;
    let mut submitted = negotiate::decode_body(header("content-type"), body)?;
    rkube_registry::storage::check_type(info, &mut submitted)?;
    let answer = match info.kind {
        "SelfSubjectReview" => json!({
            "kind": info.kind,
            "apiVersion": info.api_version(),
            "metadata": {"creationTimestamp": rkube_registry::storage::now()},
            "status": {"userInfo": user_info(user)},
        }),
        _ => return Err(method_not_allowed()),
    };
    Ok(respond::value(201, &answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rkube_registry::kinds;

    fn request(verb: Verb, version: &str, name: Option<&str>) -> ResourceRequest {
        ResourceRequest {
            verb,
            group: "authentication.k8s.io".to_owned(),
            version: version.to_owned(),
            namespace: None,
            resource: "selfsubjectreviews".to_owned(),
            name: name.map(str::to_owned),
            subresource: None,
        }
    }

    fn review(version: &str) -> &'static ResourceInfo {
        kinds::find("authentication.k8s.io", version, "selfsubjectreviews").unwrap()
    }

    async fn body_of(resp: Response) -> Value {
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_self_subject_review_answers_with_the_requesting_user() {
        let user = UserInfo::new("alice", "1001", vec!["devs".to_owned()])
            .with_extra(crate::auth::CREDENTIAL_ID, "JTI=abc");
        let body = Bytes::from_static(
            br#"{"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1beta1","metadata":{"creationTimestamp":null},"status":{"userInfo":{}}}"#,
        );
        let resp = serve(
            review("v1beta1"),
            &request(Verb::Create, "v1beta1", None),
            &Query::new(),
            &user,
            &HeaderMap::new(),
            &body,
        )
        .unwrap();
        assert_eq!(resp.status(), 201);
        let answer = body_of(resp).await;
        assert_eq!(answer["apiVersion"], "authentication.k8s.io/v1beta1");
        assert_eq!(answer["kind"], "SelfSubjectReview");
        assert!(answer["metadata"]["creationTimestamp"].is_string());
        assert_eq!(
            answer["status"]["userInfo"],
            json!({
                "username": "alice", "uid": "1001",
                "groups": ["devs", "system:authenticated"],
                "extra": {"authentication.kubernetes.io/credential-id": ["JTI=abc"]},
            })
        );
    }

    #[test]
    fn reviews_answer_nothing_but_a_create_of_the_collection() {
        let user = UserInfo::new("bob", "", vec![]);
        let serve_one = |verb, name, body: &'static [u8]| {
            serve(
                review("v1"),
                &request(verb, "v1", name),
                &Query::new(),
                &user,
                &HeaderMap::new(),
                &Bytes::from_static(body),
            )
        };
        assert_eq!(serve_one(Verb::List, None, b"").unwrap_err().code, 405);
        assert_eq!(serve_one(Verb::Get, Some("x"), b"").unwrap_err().code, 404);
        assert_eq!(
            serve_one(Verb::Create, None, b"{nope").unwrap_err().code,
            400
        );
        let wrong_kind = serve_one(Verb::Create, None, br#"{"kind":"Pod"}"#).unwrap_err();
        assert_eq!(wrong_kind.code, 400);
        assert!(
            wrong_kind
                .message
                .contains("does not match the expected kind"),
            "{}",
            wrong_kind.message
        );
        assert_eq!(serve_one(Verb::Create, None, b"{}").unwrap().status(), 201);
    }
}
