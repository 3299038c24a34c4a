//! Requests as other client libraries than kube-rs send them (here the Python `kubernetes`
//! client, which asks for discovery and the version with a trailing slash).

use crate::{Cluster, raw};

#[tokio::test]
async fn the_version_and_discovery_answer_paths_with_a_trailing_slash() {
    let c = Cluster::start().await;
    for client in [c.client.clone(), c.client_with_token(None)] {
        let (code, version) = raw(&client, "GET", "/version/", "", vec![]).await;
        assert_eq!(code, 200, "{version}");
        assert_eq!(
            (version["major"].as_str(), version["minor"].as_str()),
            (Some("1"), Some("33"))
        );
    }
    for (path, kind) in [
        ("/api/", "APIVersions"),
        ("/apis/", "APIGroupList"),
        ("/apis/apps/", "APIGroup"),
        ("/apis/apps/v1/", "APIResourceList"),
        ("/api/v1/", "APIResourceList"),
    ] {
        let (code, doc) = raw(&c.client, "GET", path, "", vec![]).await;
        assert_eq!(code, 200, "{path}: {doc}");
        assert_eq!(doc["kind"], kind, "{path}");
    }
    c.server.shutdown().await;
}
