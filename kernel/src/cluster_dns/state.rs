//! API objects as DNS sees them: Services and EndpointSlices (JSON as the API serves them)
//! turned into `kmicro_dns` entries, and the [`Records`] kept current from the changes
//! [`super::follow`] reports. Objects that do not parse are skipped (logged), never fatal.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use kmicro_dns::{EndpointEntry, PortEntry, Records, ServiceEntry, SliceEntry};
use serde_json::Value;

use crate::informer::Change;

/// The label naming an EndpointSlice's Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Namespace and name of an object.
fn key(obj: &Value) -> Option<(String, String)> {
    let meta = &obj["metadata"];
    Some((
        meta["namespace"].as_str()?.to_string(),
        meta["name"].as_str()?.to_string(),
    ))
}

/// A Service's entry: cluster IPs (none when headless), ExternalName, named ports.
pub fn service_entry(svc: &Value) -> ServiceEntry {
    let spec = &svc["spec"];
    let external_name = (spec["type"] == "ExternalName")
        .then(|| spec["externalName"].as_str().map(str::to_string))
        .flatten();
    let mut ips: Vec<&str> = spec["clusterIPs"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if ips.is_empty()
        && let Some(ip) = spec["clusterIP"].as_str()
    {
        ips.push(ip);
    }
    let headless = external_name.is_none() && ips.contains(&"None");
    ServiceEntry {
        cluster_ips: ips.iter().filter_map(|ip| ip.parse().ok()).collect(),
        headless,
        external_name,
        ports: ports(&spec["ports"]),
    }
}

/// An EndpointSlice's entry (`None` without its Service's label).
pub fn slice_entry(slice: &Value) -> Option<SliceEntry> {
    let service = slice["metadata"]["labels"][SERVICE_NAME_LABEL].as_str()?;
    let endpoints = slice["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| {
            let ready = e["conditions"]["ready"].as_bool().unwrap_or(true);
            let hostname = e["hostname"].as_str().map(str::to_string);
            e["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str()?.parse::<IpAddr>().ok())
                .map(move |ip| EndpointEntry {
                    ip,
                    hostname: hostname.clone(),
                    ready,
                })
        })
        .collect();
    Some(SliceEntry {
        service: service.to_string(),
        endpoints,
        ports: ports(&slice["ports"]),
    })
}

fn ports(list: &Value) -> Vec<PortEntry> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(PortEntry {
                name: p["name"].as_str().unwrap_or("").to_string(),
                protocol: p["protocol"].as_str().unwrap_or("TCP").to_string(),
                port: u16::try_from(p["port"].as_u64()?).ok()?,
            })
        })
        .collect()
}

/// Which collection a [`Keeper`] follows.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `v1` Services.
    Services,
    /// `discovery.k8s.io/v1` EndpointSlices.
    EndpointSlices,
}

/// Applies one collection's changes to shared [`Records`].
pub struct Keeper {
    kind: Kind,
    records: Arc<RwLock<Records>>,
    known: BTreeSet<(String, String)>,
}

impl Keeper {
    /// A keeper of `kind` over `records`.
    pub fn new(kind: Kind, records: Arc<RwLock<Records>>) -> Self {
        Self {
            kind,
            records,
            known: BTreeSet::new(),
        }
    }

    /// Applies `change`.
    pub fn apply(&mut self, change: Change) {
        let mut records = self.records.write().unwrap_or_else(|e| e.into_inner());
        match change {
            Change::Listed(items) => {
                let mut listed = BTreeSet::new();
                for item in &items {
                    if let Some(k) = key(item) {
                        Self::set(self.kind, &mut records, &k, item);
                        listed.insert(k);
                    }
                }
                for gone in self.known.difference(&listed) {
                    Self::remove(self.kind, &mut records, gone);
                }
                self.known = listed;
            }
            Change::Applied(item) => {
                if let Some(k) = key(&item) {
                    Self::set(self.kind, &mut records, &k, &item);
                    self.known.insert(k);
                }
            }
            Change::Deleted(item) => {
                if let Some(k) = key(&item) {
                    Self::remove(self.kind, &mut records, &k);
                    self.known.remove(&k);
                }
            }
        }
    }

    fn set(kind: Kind, records: &mut Records, (ns, name): &(String, String), item: &Value) {
        match kind {
            Kind::Services => records.set_service(ns, name, service_entry(item)),
            Kind::EndpointSlices => match slice_entry(item) {
                Some(entry) => records.set_slice(ns, name, entry),
                None => {
                    tracing::debug!(namespace = %ns, %name, "EndpointSlice without a service name: ignored");
                    records.remove_slice(ns, name);
                }
            },
        }
    }

    fn remove(kind: Kind, records: &mut Records, (ns, name): &(String, String)) {
        match kind {
            Kind::Services => records.remove_service(ns, name),
            Kind::EndpointSlices => records.remove_slice(ns, name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmicro_dns::{Lookup, QueryType, Record};
    use serde_json::json;

    fn svc(name: &str, cluster_ip: &str) -> Value {
        json!({"metadata": {"namespace": "default", "name": name},
               "spec": {"clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                        "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}})
    }

    #[test]
    fn services_and_slices_become_records_and_relists_forget() {
        let records = Arc::new(RwLock::new(Records::default()));
        let mut services = Keeper::new(Kind::Services, Arc::clone(&records));
        let mut slices = Keeper::new(Kind::EndpointSlices, Arc::clone(&records));
        services.apply(Change::Listed(vec![
            svc("web", "10.43.0.20"),
            svc("db", "None"),
        ]));
        slices.apply(Change::Applied(json!({
            "metadata": {"namespace": "default", "name": "db-abcde",
                         "labels": {"kubernetes.io/service-name": "db"}},
            "endpoints": [
                {"addresses": ["10.42.0.7"], "conditions": {"ready": true}},
                {"addresses": ["10.42.0.8"], "conditions": {"ready": false}},
            ],
            "ports": [{"name": "pg", "protocol": "TCP", "port": 5432}],
        })));
        let lookup = |name: &str| {
            records
                .read()
                .unwrap()
                .lookup("cluster.local", name, QueryType::A)
        };
        assert_eq!(
            lookup("web.default.svc.cluster.local"),
            Lookup::Answer(vec![Record::A(
                "web.default.svc.cluster.local".into(),
                "10.43.0.20".parse().unwrap()
            )])
        );
        assert_eq!(
            lookup("db.default.svc.cluster.local"),
            Lookup::Answer(vec![Record::A(
                "db.default.svc.cluster.local".into(),
                "10.42.0.7".parse().unwrap()
            )])
        );
        services.apply(Change::Listed(vec![svc("db", "None")]));
        assert_eq!(lookup("web.default.svc.cluster.local"), Lookup::NxDomain);
        services.apply(Change::Deleted(svc("db", "None")));
        assert_eq!(lookup("db.default.svc.cluster.local"), Lookup::NxDomain);
    }

    #[test]
    fn external_names_and_odd_objects() {
        let entry = service_entry(
            &json!({"spec": {"type": "ExternalName", "externalName": "example.org"}}),
        );
        assert_eq!(entry.external_name.as_deref(), Some("example.org"));
        assert!(!entry.headless);
        assert!(slice_entry(&json!({"metadata": {"name": "x"}})).is_none());
        let entry = service_entry(&json!({"spec": {"ports": [{"port": 99999}]}}));
        assert!(entry.ports.is_empty() && entry.cluster_ips.is_empty());
    }
}
