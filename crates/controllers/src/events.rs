//! Events controllers record about the objects they act on (`kubectl describe` shows them).

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::Resource;
use kube::api::{Api, PostParams};

/// Writes core/v1 Events on behalf of one component, best effort.
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    component: String,
}

/// Whether an event reports something normal or something to look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Routine progress.
    Normal,
    /// Something went wrong or needs attention.
    Warning,
}

impl Recorder {
    /// A recorder writing as `component` (e.g. `replicaset-controller`).
    pub fn new(client: kube::Client, component: &str) -> Recorder {
        Recorder {
            client,
            component: component.to_owned(),
        }
    }

    /// The same client writing as another component.
    pub fn for_component(&self, component: &str) -> Recorder {
        Recorder::new(self.client.clone(), component)
    }

    /// Records an event about `obj` in the background; failures are only logged.
    pub fn record<K>(&self, obj: &K, kind: EventType, reason: &str, message: String)
    where
        K: Resource<DynamicType = ()>,
    {
        let meta = obj.meta();
        let name = meta.name.clone().unwrap_or_default();
        let namespace = meta
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let now = rkube_api::time::now();
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{name}.")),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some(K::api_version(&()).into_owned()),
                kind: Some(K::kind(&()).into_owned()),
                name: Some(name),
                namespace: meta.namespace.clone(),
                uid: meta.uid.clone(),
                resource_version: meta.resource_version.clone(),
                ..ObjectReference::default()
            },
            reason: Some(reason.to_owned()),
            message: Some(message),
            type_: Some(format!("{kind:?}")),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.component.clone()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            count: Some(1),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        tokio::spawn(async move {
            if let Err(err) = api.create(&PostParams::default(), &event).await {
                tracing::debug!(%err, "recording an event");
            }
        });
    }
}
