//! Integration tests of the endpoint, endpointslice, serviceaccount and root CA publisher
//! controllers: the API server in-process with its own controllers off, these controllers
//! run by the test, and pods whose status the test sets itself (there is no kubelet).

use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Namespace, Node, Pod, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use rkube_controllers::Options;
use rkube_server::RunningServer;
use serde_json::json;
use std::time::Duration;

mod common;
use common::{create, eventually};

/// How long a condition may take to come true.
const WAIT: Duration = Duration::from_secs(60);
use tempfile::TempDir;
use tokio::sync::watch;

struct Cluster {
    server: RunningServer,
    client: kube::Client,
    ca: String,
    stop: watch::Sender<bool>,
    controllers: tokio::task::JoinHandle<()>,
    _dir: TempDir,
}

async fn start() -> Cluster {
    let common::Server {
        server,
        client,
        dir,
    } = common::server(|config| {
        config.scheduler = false;
        config.controllers = false;
    })
    .await;
    let ca = std::fs::read_to_string(&server.pki.ca.cert).unwrap();
    let (stop, stopped) = watch::channel(false);
    let options = Options {
        controllers: [
            "endpoint",
            "endpointslice",
            "serviceaccount",
            "root-ca-certificate-publisher",
        ]
        .map(String::from)
        .to_vec(),
        root_ca_pem: Some(ca.clone()),
        ..Options::default()
    };
    let controllers = rkube_controllers::spawn(client.clone(), options, false, "test", stopped);
    Cluster {
        server,
        client,
        ca,
        stop,
        controllers,
        _dir: dir,
    }
}

impl Cluster {
    async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.controllers.await;
        self.server.shutdown().await;
    }

    fn api<K>(&self, ns: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    async fn namespace(&self, name: &str) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        create(&api, json!({"metadata": {"name": name}})).await;
    }

    async fn node(&self, name: &str, zone: &str) {
        let api: Api<Node> = Api::all(self.client.clone());
        create(
            &api,
            json!({"metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}}}),
        )
        .await;
    }

    /// A pod of `app` on node `n1` serving its port named `web` on 8080, running with `ip`
    /// and ready or not.
    async fn running_pod(&self, ns: &str, name: &str, ip: &str, ready: bool) {
        let api: Api<Pod> = self.api(ns);
        create(
            &api,
            json!({
                "metadata": {"name": name, "labels": {"app": "web"}},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx",
                         "ports": [{"name": "web", "containerPort": 8080}]}]}
            }),
        )
        .await;
        let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }

    async fn web_service(&self, ns: &str) {
        let api: Api<Service> = self.api(ns);
        create(&api, json!({
            "metadata": {"name": "web", "labels": {"tier": "front"}},
            "spec": {"selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]}
        }))
        .await;
    }

    async fn slices(&self, ns: &str, service: &str) -> Vec<EndpointSlice> {
        let api: Api<EndpointSlice> = self.api(ns);
        let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
        api.list(&lp).await.unwrap().items
    }
}

fn ips(addresses: &Option<Vec<k8s_openapi::api::core::v1::EndpointAddress>>) -> Vec<String> {
    let mut v: Vec<String> = addresses.iter().flatten().map(|a| a.ip.clone()).collect();
    v.sort();
    v
}

/// Each endpoint of the slices as (ip, ready, serving, terminating).
fn conditions(slices: &[EndpointSlice]) -> Vec<(String, bool, bool, bool)> {
    let mut v: Vec<_> = slices
        .iter()
        .flat_map(|s| &s.endpoints)
        .map(|e| {
            let c = e.conditions.clone().unwrap_or_default();
            (
                e.addresses[0].clone(),
                c.ready == Some(true),
                c.serving == Some(true),
                c.terminating == Some(true),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_publish_their_pods_as_endpoints_and_slices() {
    let c = start().await;
    c.namespace("shop").await;
    c.node("n1", "zone-a").await;
    c.web_service("shop").await;
    c.running_pod("shop", "a", "10.42.0.1", true).await;
    c.running_pod("shop", "b", "10.42.0.2", true).await;
    c.running_pod("shop", "c", "10.42.0.3", false).await;
    let endpoints: Api<Endpoints> = c.api("shop");

    let ep = eventually("endpoints with 2 ready and 1 not ready address", || async {
        let ep = endpoints.get_opt("web").await.unwrap()?;
        let subset = ep.subsets.as_ref()?.first()?.clone();
        (ips(&subset.addresses) == ["10.42.0.1", "10.42.0.2"]
            && ips(&subset.not_ready_addresses) == ["10.42.0.3"])
        .then_some(ep)
    })
    .await;
    let subset = &ep.subsets.as_ref().unwrap()[0];
    let port = &subset.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port, port.protocol.as_deref()),
        (Some("http"), 8080, Some("TCP"))
    );
    let address = &subset.addresses.as_ref().unwrap()[0];
    assert_eq!(address.node_name.as_deref(), Some("n1"));
    let target = address.target_ref.as_ref().unwrap();
    assert_eq!(
        (target.kind.as_deref(), target.name.as_deref()),
        (Some("Pod"), Some("a"))
    );
    assert!(target.uid.is_some());
    assert_eq!(ep.metadata.labels.as_ref().unwrap()["tier"], "front");

    let slices = eventually("a slice with the three pods", || async {
        let slices = c.slices("shop", "web").await;
        (conditions(&slices).len() == 3).then_some(slices)
    })
    .await;
    assert_eq!(slices.len(), 1);
    assert_eq!(
        conditions(&slices),
        [
            ("10.42.0.1".to_owned(), true, true, false),
            ("10.42.0.2".to_owned(), true, true, false),
            ("10.42.0.3".to_owned(), false, false, false),
        ]
    );
    let slice = &slices[0];
    assert_eq!(slice.address_type, "IPv4");
    let labels = slice.metadata.labels.as_ref().unwrap();
    assert_eq!(
        labels["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert!(slice.metadata.name.as_deref().unwrap().starts_with("web-"));
    let owner = &slice.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Service", "web", Some(true))
    );
    let port = &slice.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port),
        (Some("http"), Some(8080))
    );
    let endpoint = &slice.endpoints[0];
    assert_eq!(endpoint.zone.as_deref(), Some("zone-a"));
    assert_eq!(endpoint.node_name.as_deref(), Some("n1"));

    // Settled objects are not rewritten, not even when a pod changes in ways endpoints ignore.
    let pods: Api<Pod> = c.api("shop");
    let label = json!({"metadata": {"annotations": {"note": "irrelevant"}}});
    pods.patch("c", &PatchParams::default(), &Patch::Merge(&label))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = endpoints.get("web").await.unwrap();
    assert_eq!(
        again.metadata.resource_version,
        ep.metadata.resource_version
    );
    let slices_again = c.slices("shop", "web").await;
    assert_eq!(
        slices_again[0].metadata.resource_version,
        slice.metadata.resource_version
    );

    // A pod gone: out of both.
    pods.delete("a", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    eventually("pod a out of the endpoints and the slice", || async {
        let ep = endpoints.get("web").await.unwrap();
        let subset = ep.subsets.as_ref()?.first()?.clone();
        let slices = c.slices("shop", "web").await;
        let in_slices: Vec<String> = conditions(&slices).into_iter().map(|e| e.0).collect();
        (ips(&subset.addresses) == ["10.42.0.2"] && in_slices == ["10.42.0.2", "10.42.0.3"])
            .then_some(())
    })
    .await;

    // A pod being deleted: out of the Endpoints, terminating in the slice.
    pods.delete("b", &DeleteParams::default()).await.unwrap();
    eventually("pod b terminating", || async {
        let ep = endpoints.get("web").await.unwrap();
        let ready = ep
            .subsets
            .iter()
            .flatten()
            .flat_map(|s| s.addresses.iter().flatten())
            .count();
        let slices = c.slices("shop", "web").await;
        (ready == 0 && conditions(&slices).contains(&("10.42.0.2".to_owned(), false, true, true)))
            .then_some(())
    })
    .await;

    // The Service gone: its Endpoints too.
    let services: Api<Service> = c.api("shop");
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the endpoints deleted", || async {
        endpoints
            .get_opt("web")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    // The API server's own Endpoints stay as they are.
    let default: Api<Endpoints> = c.api("default");
    let kubernetes = default.get("kubernetes").await.unwrap();
    assert!(
        !kubernetes
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("endpoints.kubernetes.io/managed-by")
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pods_are_spread_over_slices_of_at_most_100() {
    let c = start().await;
    c.namespace("big").await;
    c.node("n1", "zone-a").await;
    c.web_service("big").await;
    for batch in (0..250).collect::<Vec<u32>>().chunks(25) {
        futures::future::join_all(batch.iter().map(|i| {
            let (name, ip) = (
                format!("p{i:03}"),
                format!("10.42.{}.{}", i / 200, i % 200 + 1),
            );
            let c = &c;
            async move { c.running_pod("big", &name, &ip, true).await }
        }))
        .await;
    }
    let slices = eventually("250 endpoints in slices", || async {
        let slices = c.slices("big", "web").await;
        (conditions(&slices).len() == 250).then_some(slices)
    })
    .await;
    let mut sizes: Vec<usize> = slices.iter().map(|s| s.endpoints.len()).collect();
    sizes.sort();
    assert_eq!(sizes, [50, 100, 100]);
    let endpoints: Api<Endpoints> = c.api("big");
    eventually("250 addresses in the endpoints", || async {
        let ep = endpoints.get_opt("web").await.unwrap()?;
        let n: usize = ep
            .subsets
            .iter()
            .flatten()
            .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
            .sum();
        (n == 250).then_some(())
    })
    .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_get_a_default_service_account_and_the_root_ca() {
    let c = start().await;
    c.namespace("fresh").await;
    let accounts: Api<ServiceAccount> = c.api("fresh");
    let config_maps: Api<ConfigMap> = c.api("fresh");
    eventually("the default service account", || async {
        accounts.get_opt("default").await.unwrap().map(|_| ())
    })
    .await;
    let cm = eventually("kube-root-ca.crt", || async {
        config_maps.get_opt("kube-root-ca.crt").await.unwrap()
    })
    .await;
    assert_eq!(cm.data.unwrap()["ca.crt"], c.ca);

    // Deleted: made again. Edited: put back.
    accounts
        .delete("default", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the default service account again", || async {
        let sa = accounts.get_opt("default").await.unwrap()?;
        (sa.metadata.deletion_timestamp.is_none()).then_some(())
    })
    .await;
    let edit = json!({"data": {"ca.crt": "not a certificate"}});
    config_maps
        .patch(
            "kube-root-ca.crt",
            &PatchParams::default(),
            &Patch::Merge(&edit),
        )
        .await
        .unwrap();
    eventually("kube-root-ca.crt restored", || async {
        let cm = config_maps.get("kube-root-ca.crt").await.unwrap();
        (cm.data?["ca.crt"] == c.ca).then_some(())
    })
    .await;
    c.shutdown().await;
}
