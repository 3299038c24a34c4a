//! Resource requests: one function per verb over the registry's storage.

use crate::ApiServer;
use crate::admission;
use crate::negotiate::{self, Output};
use crate::request::{Query, ResourceRequest, Verb, flag};
use crate::respond;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use rkube_api::selector::{FieldSelector, LabelSelector};
use rkube_api::status::StatusError;
use rkube_registry::storage::{DeleteOptions, Filter, ListOptions, WatchOptions};
use rkube_registry::{ResourceInfo, Storage, Subresource, strategy};
use serde_json::Value;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The filter from `labelSelector` and `fieldSelector`, checking that the
/// field selector only uses fields the kind supports.
fn filter(info: &ResourceInfo, query: &Query) -> Result<Filter, StatusError> {
    let labels = match query.get("labelSelector").filter(|s| !s.is_empty()) {
        Some(s) => {
            Some(LabelSelector::parse(s).map_err(|e| StatusError::bad_request(&e.to_string()))?)
        }
        None => None,
    };
    let fields = match query.get("fieldSelector").filter(|s| !s.is_empty()) {
        Some(s) => {
            let selector =
                FieldSelector::parse(s).map_err(|e| StatusError::bad_request(&e.to_string()))?;
            let mut supported = vec!["metadata.name", "metadata.namespace"];
            supported.extend_from_slice(strategy::for_resource(info).selectable());
            for field in selector.fields() {
                if !supported.contains(&field) {
                    return Err(StatusError::bad_request(
                        &rkube_api::selector::unsupported_field_message(field, &supported),
                    ));
                }
            }
            Some(selector)
        }
        None => None,
    };
    Ok(Filter { labels, fields })
}

pub(crate) fn dry_run(query: &Query) -> Result<bool, StatusError> {
    match query.get("dryRun").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(StatusError::bad_request(&format!(
            "Invalid dry run value: {other}: supported values: \"All\""
        ))),
    }
}

fn subresource(
    info: &ResourceInfo,
    name: Option<&str>,
) -> Result<Option<Subresource>, StatusError> {
    match name {
        None => Ok(None),
        Some(name) => info
            .subresources
            .iter()
            .copied()
            .find(|s| s.name() == name)
            .map(Some)
            .ok_or_else(|| {
                StatusError::not_found_message("the server could not find the requested resource")
            }),
    }
}

/// Whether a subresource answers a verb: status and scale are read and written, bindings
/// and tokens only created, finalize only replaced.
fn serves(sub: Subresource, verb: Verb) -> bool {
    match sub {
        Subresource::Status | Subresource::Scale => {
            matches!(verb, Verb::Get | Verb::Update | Verb::Patch)
        }
        Subresource::Binding | Subresource::Token => verb == Verb::Create,
        Subresource::Finalize => verb == Verb::Update,
    }
}

/// The metadata of an object's Scale view.
pub(crate) fn scale_metadata(obj: &Value) -> Value {
    let meta = &obj["metadata"];
    serde_json::json!({
        "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
        "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
    })
}

/// The `autoscaling/v1` Scale view of a built-in workload.
pub(crate) fn scale_view(obj: &Value) -> Value {
    let selector = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    serde_json::json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_metadata(obj),
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(0)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

/// Applies the request's `fieldValidation` to a submitted object: `Strict` rejects fields
/// the kind does not have, `Warn` (the default) answers them as warnings, `Ignore` drops
/// them silently. Unknown fields are never stored.
pub(crate) fn check_fields(
    storage: &Storage,
    info: &ResourceInfo,
    query: &Query,
    obj: &Value,
) -> Result<Vec<String>, StatusError> {
    let mode = query.get("fieldValidation").map_or("Warn", String::as_str);
    if !matches!(mode, "Strict" | "Warn" | "Ignore") {
        return Err(StatusError::bad_request(&format!(
            "fieldValidation parameter unsupported: {mode:?}, supported values: \"Ignore\", \"Warn\", \"Strict\""
        )));
    }
    if mode == "Ignore" {
        return Ok(Vec::new());
    }
    if info.custom {
        return crate::custom::check_fields(&*crate::custom::version_of(storage, info)?, mode, obj);
    }
    let unknown: Vec<String> = crate::openapi::unknown_fields(&info.api_version(), info.kind, obj)
        .into_iter()
        .map(|path| format!("unknown field {path:?}"))
        .collect();
    if mode == "Strict" && !unknown.is_empty() {
        return Err(StatusError::bad_request(&format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
            unknown.join(", "),
            kind = info.kind,
            version = info.version,
        )));
    }
    Ok(unknown)
}

/// Adds upstream-style `Warning` headers to a response.
pub(crate) fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = axum::http::HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append("warning", value);
        }
    }
    resp
}

/// Applies a patch of the request's type to `doc`.
fn apply_patch(
    info: &ResourceInfo,
    content_type: &str,
    doc: &Value,
    patch: &Value,
) -> Result<Value, StatusError> {
    let failed = |err: rkube_patch::PatchError| match err.status_code() {
        400 => StatusError::bad_request(&err.to_string()),
        code => StatusError {
            code,
            reason: "Invalid".to_owned(),
            message: err.to_string(),
            details: None,
        },
    };
    match content_type {
        "application/json-patch+json" => rkube_patch::json_patch(doc, patch).map_err(failed),
        "application/merge-patch+json" => Ok(rkube_patch::merge_patch(doc, patch)),
        "application/strategic-merge-patch+json" if info.custom => {
            Err(StatusError::unsupported_media_type(
                "application/strategic-merge-patch+json (custom resources take json-patch, merge-patch and apply-patch)",
            ))
        }
        "application/strategic-merge-patch+json" => {
            let schema = rkube_patch::Schema::builtin();
            match schema.definition_for(info.group, info.version, info.kind) {
                Some(def) => {
                    rkube_patch::strategic_merge_patch(doc, patch, schema, def).map_err(failed)
                }
                None => Ok(rkube_patch::merge_patch(doc, patch)),
            }
        }
        other => Err(StatusError::unsupported_media_type(other)),
    }
}

fn delete_options(query: &Query, body: &Bytes) -> Result<DeleteOptions, StatusError> {
    let mut opts = DeleteOptions {
        dry_run: dry_run(query)?,
        ..DeleteOptions::default()
    };
    if !body.is_empty() {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| StatusError::bad_request(&format!("invalid DeleteOptions: {e}")))?;
        opts.grace_period_seconds = v["gracePeriodSeconds"].as_i64();
        opts.propagation_policy = v["propagationPolicy"].as_str().map(str::to_owned);
        opts.precondition_uid = v["preconditions"]["uid"].as_str().map(str::to_owned);
        opts.precondition_resource_version = v["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_owned);
        if v["dryRun"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x == "All"))
        {
            opts.dry_run = true;
        }
    }
    if let Some(g) = query.get("gracePeriodSeconds") {
        opts.grace_period_seconds = Some(
            g.parse()
                .map_err(|_| StatusError::bad_request("gracePeriodSeconds must be a number"))?,
        );
    }
    if let Some(p) = query.get("propagationPolicy") {
        opts.propagation_policy = Some(p.clone());
    }
    Ok(opts)
}

impl ApiServer {
    /// Serves one resource request for an authenticated, authorized user.
    pub(crate) async fn resource(
        &self,
        rr: &ResourceRequest,
        query: &Query,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response, StatusError> {
        let not_found =
            || StatusError::not_found_message("the server could not find the requested resource");
        let info = (self.storage)
            .find(&rr.group, &rr.version, &rr.resource)
            .ok_or_else(not_found)?;
        if !info.namespaced && rr.namespace.is_some() {
            return Err(not_found());
        }
        let sub = subresource(info, rr.subresource.as_deref())?;
        if let Some(sub) = sub
            && !serves(sub, rr.verb)
        {
            return Err(StatusError::method_not_supported(
                &info.group_resource(),
                rr.verb.as_str(),
            ));
        }
        let output = negotiate::choose_output(header(headers, "accept"))?;
        let output = if matches!(output, Output::Discovery(_)) {
            Output::Json
        } else {
            output
        };
        let include = query.get("includeObject").map(String::as_str);
        let ns = rr.namespace.as_deref();
        let name = rr.name.as_deref();
        let storage = &self.storage;
        let content_type = header(headers, "content-type");
        match (rr.verb, sub) {
            (Verb::Get, Some(Subresource::Scale)) => {
                let (obj, _) = storage.get_raw(info, ns, name.unwrap_or("")).await?;
                Ok(respond::value(200, &self.scale_view(info, &obj)?))
            }
            (Verb::Get, _) => {
                let bytes = storage.get(info, ns, name.unwrap_or("")).await?;
                Ok(self.object(output, info, 200, bytes, include))
            }
            (Verb::List, _) => {
                let opts = ListOptions {
                    filter: filter(info, query)?,
                    limit: query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0),
                    continue_token: query.get("continue").cloned(),
                    resource_version: query.get("resourceVersion").cloned(),
                    resource_version_match: query.get("resourceVersionMatch").cloned(),
                };
                let result = storage.list(info, ns, &opts).await?;
                self.list_response(output, info, &result, include)
            }
            (Verb::Watch, _) => {
                let opts = WatchOptions {
                    resource_version: query.get("resourceVersion").cloned(),
                    filter: filter(info, query)?,
                    allow_bookmarks: flag(query, "allowWatchBookmarks"),
                    send_initial_events: query.get("sendInitialEvents").map(|v| v == "true"),
                };
                let rx = storage.watch(info, ns, opts).await?;
                let timeout = query
                    .get("timeoutSeconds")
                    .and_then(|t| t.parse::<u64>().ok());
                if output == (Output::Protobuf { or_json: false })
                    && !rkube_protobuf::Codec::builtin().supports(&info.api_version(), info.kind)
                {
                    return Err(StatusError::not_acceptable(
                        "only the following media types are accepted: application/json, application/yaml",
                    ));
                }
                let custom = if info.custom {
                    Some(crate::custom::version_of(storage, info)?)
                } else {
                    None
                };
                Ok(crate::watch::stream(
                    info, custom, rx, output, include, timeout,
                ))
            }
            (Verb::Create, Some(Subresource::Binding)) => {
                let binding = negotiate::decode_body(content_type, &body)?;
                let node = binding["target"]["name"].as_str().unwrap_or("").to_owned();
                if node.is_empty() {
                    return Err(StatusError::bad_request("a binding needs target.name"));
                }
                storage.bind_pod(ns, name.unwrap_or(""), &node).await?;
                Ok(respond::value(
                    201,
                    &serde_json::json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201
                    }),
                ))
            }
            (Verb::Create, Some(Subresource::Token)) => {
                let Some(tokens) = &self.service_accounts else {
                    return Err(not_found());
                };
                let request = negotiate::decode_body(content_type, &body)?;
                let answer = crate::tokens::create_token(
                    tokens,
                    storage,
                    ns.unwrap_or("default"),
                    name.unwrap_or(""),
                    request,
                    dry_run(query)?,
                )
                .await?;
                Ok(respond::value(201, &answer))
            }
            (Verb::Create, _) => {
                let obj = negotiate::decode_body(content_type, &body)?;
                let warnings = check_fields(storage, info, query, &obj)?;
                let obj_name = obj["metadata"]["name"].as_str().map(str::to_owned);
                admission::namespace_lifecycle(storage, info, ns, obj_name.as_deref(), true, false)
                    .await?;
                let manager = crate::apply::manager(query, headers, info, "Update", None);
                let bytes = storage
                    .create(info, ns, obj, dry_run(query)?, Some(&manager))
                    .await?;
                Ok(with_warnings(
                    self.object(output, info, 201, bytes, include),
                    &warnings,
                ))
            }
            (Verb::Update, Some(Subresource::Scale)) => {
                let scale = negotiate::decode_body(content_type, &body)?;
                let manager = crate::apply::manager(query, headers, info, "Update", sub);
                self.set_replicas(
                    info,
                    ns,
                    name.unwrap_or(""),
                    scale,
                    dry_run(query)?,
                    &manager,
                )
                .await
            }
            (Verb::Update, _) => {
                let obj = negotiate::decode_body(content_type, &body)?;
                let warnings = check_fields(storage, info, query, &obj)?;
                let manager = crate::apply::manager(query, headers, info, "Update", sub);
                let bytes = storage
                    .update(
                        info,
                        ns,
                        name.unwrap_or(""),
                        obj,
                        sub,
                        dry_run(query)?,
                        Some(&manager),
                    )
                    .await?;
                Ok(with_warnings(
                    self.object(output, info, 200, bytes, include),
                    &warnings,
                ))
            }
            (Verb::Patch, sub) => {
                let media = negotiate::media_type(content_type.unwrap_or("")).to_owned();
                if body.len() > negotiate::MAX_BODY_BYTES {
                    return Err(StatusError::request_entity_too_large(
                        "the patch is too large",
                    ));
                }
                if media == crate::apply::APPLY_PATCH && sub != Some(Subresource::Scale) {
                    return self
                        .server_side_apply(
                            info,
                            ns,
                            name.unwrap_or(""),
                            sub,
                            query,
                            headers,
                            &body,
                            output,
                            include,
                            dry_run(query)?,
                        )
                        .await;
                }
                crate::apply::check_patch_options(query, false)?;
                let manager = crate::apply::manager(query, headers, info, "Update", sub);
                let patch: Value = serde_json::from_slice(&body)
                    .map_err(|e| StatusError::bad_request(&format!("error decoding patch: {e}")))?;
                if sub == Some(Subresource::Scale) {
                    let (obj, _) = storage.get_raw(info, ns, name.unwrap_or("")).await?;
                    let scale = apply_patch(info, &media, &self.scale_view(info, &obj)?, &patch)?;
                    return self
                        .set_replicas(
                            info,
                            ns,
                            name.unwrap_or(""),
                            scale,
                            dry_run(query)?,
                            &manager,
                        )
                        .await;
                }
                let mut warnings = Vec::new();
                let mut change = |old: &Value| {
                    let new = apply_patch(info, &media, old, &patch)?;
                    warnings = check_fields(storage, info, query, &new)?;
                    Ok(new)
                };
                let bytes = storage
                    .update_with_by(
                        info,
                        ns,
                        name.unwrap_or(""),
                        sub,
                        dry_run(query)?,
                        Some(&manager),
                        &mut change,
                    )
                    .await?;
                Ok(with_warnings(
                    self.object(output, info, 200, bytes, include),
                    &warnings,
                ))
            }
            (Verb::Delete, _) => {
                let opts = delete_options(query, &body)?;
                admission::namespace_lifecycle(storage, info, ns, name, false, true).await?;
                let bytes = storage.delete(info, ns, name.unwrap_or(""), &opts).await?;
                Ok(self.object(output, info, 200, bytes, include))
            }
            (Verb::DeleteCollection, _) => {
                if info.plural == "namespaces" && info.group.is_empty() {
                    return Err(StatusError::method_not_supported(
                        &info.group_resource(),
                        "deletecollection",
                    ));
                }
                let opts = delete_options(query, &body)?;
                let list = storage
                    .list(
                        info,
                        ns,
                        &ListOptions {
                            filter: filter(info, query)?,
                            ..ListOptions::default()
                        },
                    )
                    .await?;
                let mut deleted = Vec::new();
                for item in respond::parse_all(&list.items) {
                    let Some(item_name) = item["metadata"]["name"].as_str() else {
                        continue;
                    };
                    let item_ns = if info.namespaced {
                        item["metadata"]["namespace"].as_str().or(ns)
                    } else {
                        None
                    };
                    match storage.delete(info, item_ns, item_name, &opts).await {
                        Ok(b) => deleted.push(b),
                        // Deleted meanwhile by someone else.
                        Err(e) if e.code == 404 => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(respond::json(
                    200,
                    respond::list_bytes(info, &deleted, list.resource_version, None),
                ))
            }
        }
    }

    /// Sets a workload's replicas from a Scale, answering with the new Scale.
    async fn set_replicas(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        scale: Value,
        dry_run: bool,
        manager: &rkube_patch::apply::Manager,
    ) -> Result<Response, StatusError> {
        let replicas = scale["spec"]["replicas"].as_i64().unwrap_or(0);
        let precondition = scale["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_owned);
        let paths = match info.custom {
            true => crate::custom::version_of(&self.storage, info)?
                .scale
                .clone(),
            false => None,
        };
        let mut change = |old: &Value| {
            let mut new = old.clone();
            match &paths {
                Some(paths) => crate::custom::set_replicas(paths, &mut new, replicas),
                None => new["spec"]["replicas"] = Value::from(replicas),
            }
            if let Some(rv) = &precondition {
                new["metadata"]["resourceVersion"] = Value::from(rv.clone());
            }
            Ok(new)
        };
        let bytes = self
            .storage
            .update_with_by(info, ns, name, None, dry_run, Some(manager), &mut change)
            .await?;
        let obj: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        Ok(respond::value(200, &self.scale_view(info, &obj)?))
    }
}
