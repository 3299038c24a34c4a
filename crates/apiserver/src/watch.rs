//! Streaming watch responses: one JSON event per line, as objects or as
//! one-row Tables.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use rkube_registry::ResourceInfo;
use rkube_registry::custom::CustomVersion;
use rkube_registry::storage::{WatchEventType, WatchItem};
use serde_json::Value;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// A watch without `timeoutSeconds` ends after this long (upstream picks
/// 30–60 minutes); clients then resume from their last resource version.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(45 * 60);

fn line(kind: WatchEventType, object: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

fn as_table(
    info: &ResourceInfo,
    custom: Option<&CustomVersion>,
    item: &WatchItem,
    first: bool,
    include: Option<&str>,
) -> Bytes {
    if matches!(item.kind, WatchEventType::Error | WatchEventType::Bookmark) {
        return item.object.clone();
    }
    let obj: Value = serde_json::from_slice(&item.object).unwrap_or_default();
    let rv = obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    if let Some(version) = custom {
        let table = crate::custom::table(
            version,
            std::slice::from_ref(&obj),
            include,
            first,
            &rv,
            None,
        );
        return Bytes::from(serde_json::to_vec(&table).unwrap_or_default());
    }
    let table = rkube_printers::table(
        info.group,
        info.plural,
        std::slice::from_ref(&obj),
        rkube_printers::IncludeObject::parse(include),
        first,
        &rv,
        None,
        SystemTime::now(),
    );
    Bytes::from(serde_json::to_vec(&table).unwrap_or_default())
}

/// The streaming response of a watch.
pub fn stream(
    info: &'static ResourceInfo,
    custom: Option<Arc<CustomVersion>>,
    mut events: mpsc::Receiver<WatchItem>,
    output: crate::negotiate::Output,
    include: Option<&str>,
    timeout_seconds: Option<u64>,
) -> Response {
    let include = include.map(str::to_owned);
    let protobuf = matches!(output, crate::negotiate::Output::Protobuf { .. })
        && rkube_protobuf::Codec::builtin().supports(&info.api_version(), info.kind);
    let deadline =
        tokio::time::Instant::now() + timeout_seconds.map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(16);
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let mut item = tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tx.closed() => return,
                item = events.recv() => match item { Some(item) => item, None => return },
            };
            if rkube_registry::convert::converts(info)
                && !matches!(item.kind, WatchEventType::Error | WatchEventType::Bookmark)
            {
                item.object = rkube_registry::convert::served_bytes(info, item.object);
            }
            if protobuf {
                match protobuf_frame(&item) {
                    Some(frame) => {
                        if tx.send(Ok(frame)).await.is_err() {
                            return;
                        }
                    }
                    None => tracing::warn!(
                        kind = info.kind,
                        "a watch event could not be encoded as protobuf"
                    ),
                }
                continue;
            }
            let object = match output {
                crate::negotiate::Output::Table => {
                    as_table(info, custom.as_deref(), &item, first, include.as_deref())
                }
                crate::negotiate::Output::Metadata
                    if !matches!(item.kind, WatchEventType::Error) =>
                {
                    crate::respond::partial(&item.object)
                }
                _ => item.object.clone(),
            };
            first = false;
            if tx.send(Ok(line(item.kind, &object))).await.is_err() {
                return;
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if protobuf {
            "application/vnd.kubernetes.protobuf;stream=watch"
        } else {
            "application/json"
        }),
    );
    resp
}

/// One watch event in protobuf framing: a 4-byte big-endian length, then a
/// `meta.v1.WatchEvent` whose object is the protobuf body of the event's object.
fn protobuf_frame(item: &WatchItem) -> Option<Bytes> {
    let codec = rkube_protobuf::Codec::builtin();
    let object: Value = serde_json::from_slice(&item.object).ok()?;
    let encoded = codec.encode(&object).ok()?;
    let event = codec.watch_event(item.kind.as_str(), encoded).ok()?;
    let mut frame = Vec::with_capacity(event.len() + 4);
    frame.extend_from_slice(&u32::try_from(event.len()).ok()?.to_be_bytes());
    frame.extend_from_slice(&event);
    Some(Bytes::from(frame))
}
