//! Service environment variables, as kubelet's `envvars.FromServices` writes them for the
//! services a container may see when it starts: those of the pod's namespace when
//! `enableServiceLinks` (default true), and `default/kubernetes` always. A Service without
//! a cluster IP (headless `None`, ExternalName, none assigned) or without ports is skipped.
//! Per service, in order: `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT`,
//! `<NAME>_SERVICE_PORT_<PORT NAME>` for each named port, then Docker links: `<NAME>_PORT`
//! (the first port) and per port `<NAME>_PORT_<port>_<PROTO>` with `_PROTO`, `_PORT`,
//! `_ADDR`. Names are upper-cased with `-` as `_`.

use serde_json::Value;

/// The services a pod in `namespace` sees: `default/kubernetes` first when it has a
/// cluster IP, then (when `links`) its namespace's, by name, the master service not twice.
pub fn visible<'a>(
    namespace: &str,
    links: bool,
    kubernetes: Option<&'a Value>,
    in_namespace: &'a [Value],
) -> Vec<&'a Value> {
    let mut out: Vec<&Value> = kubernetes
        .filter(|s| has_cluster_ip(s))
        .into_iter()
        .collect();
    if links {
        let mut local: Vec<&Value> = in_namespace
            .iter()
            .filter(|s| has_cluster_ip(s))
            .filter(|s| !(out.len() == 1 && s["metadata"]["name"] == "kubernetes"))
            .filter(|s| !(namespace == "default" && s["metadata"]["name"] == "kubernetes"))
            .collect();
        local.sort_by(|a, b| {
            a["metadata"]["name"]
                .as_str()
                .cmp(&b["metadata"]["name"].as_str())
        });
        out.extend(local);
    }
    out
}

/// Whether kubelet sets variables for `service` (kube's `IsServiceIPSet`, and a port).
fn has_cluster_ip(service: &Value) -> bool {
    let ip = service["spec"]["clusterIP"].as_str().unwrap_or("");
    !ip.is_empty()
        && ip != "None"
        && service["spec"]["ports"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
}

/// kube's `makeEnvVariableName`.
fn var_name(name: &str) -> String {
    name.replace('-', "_").to_uppercase()
}

/// The variables of `services`, in kubelet's order.
pub fn variables(services: &[&Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for service in services {
        if !has_cluster_ip(service) {
            continue;
        }
        let prefix = var_name(service["metadata"]["name"].as_str().unwrap_or(""));
        let ip = service["spec"]["clusterIP"].as_str().unwrap_or("");
        let ports: &[Value] = service["spec"]["ports"]
            .as_array()
            .map_or(&[], Vec::as_slice);
        let port_of = |p: &Value| p["port"].as_i64().unwrap_or(0);
        out.push((format!("{prefix}_SERVICE_HOST"), ip.to_string()));
        out.push((
            format!("{prefix}_SERVICE_PORT"),
            port_of(&ports[0]).to_string(),
        ));
        for p in ports {
            if let Some(name) = p["name"].as_str().filter(|n| !n.is_empty()) {
                out.push((
                    format!("{prefix}_SERVICE_PORT_{}", var_name(name)),
                    port_of(p).to_string(),
                ));
            }
        }
        let host = |port: i64| {
            if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            }
        };
        for (i, p) in ports.iter().enumerate() {
            let protocol = p["protocol"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("TCP");
            let lower = protocol.to_lowercase();
            let port = port_of(p);
            let url = format!("{lower}://{}", host(port));
            if i == 0 {
                out.push((format!("{prefix}_PORT"), url.clone()));
            }
            let pp = format!("{prefix}_PORT_{port}_{}", protocol.to_uppercase());
            out.push((pp.clone(), url));
            out.push((format!("{pp}_PROTO"), lower));
            out.push((format!("{pp}_PORT"), port.to_string()));
            out.push((format!("{pp}_ADDR"), ip.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubelets_variables_for_a_service() {
        let svc = json!({"metadata": {"name": "my-web"}, "spec": {"clusterIP": "10.43.0.7",
            "ports": [{"port": 80}, {"name": "metrics-x", "port": 9100, "protocol": "UDP"}]}});
        let vars = variables(&[&svc]);
        let want: Vec<(String, String)> = [
            ("MY_WEB_SERVICE_HOST", "10.43.0.7"),
            ("MY_WEB_SERVICE_PORT", "80"),
            ("MY_WEB_SERVICE_PORT_METRICS_X", "9100"),
            ("MY_WEB_PORT", "tcp://10.43.0.7:80"),
            ("MY_WEB_PORT_80_TCP", "tcp://10.43.0.7:80"),
            ("MY_WEB_PORT_80_TCP_PROTO", "tcp"),
            ("MY_WEB_PORT_80_TCP_PORT", "80"),
            ("MY_WEB_PORT_80_TCP_ADDR", "10.43.0.7"),
            ("MY_WEB_PORT_9100_UDP", "udp://10.43.0.7:9100"),
            ("MY_WEB_PORT_9100_UDP_PROTO", "udp"),
            ("MY_WEB_PORT_9100_UDP_PORT", "9100"),
            ("MY_WEB_PORT_9100_UDP_ADDR", "10.43.0.7"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(vars, want);
    }

    #[test]
    fn headless_and_links_off_are_skipped() {
        let kube = json!({"metadata": {"name": "kubernetes"}, "spec": {"clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443}]}});
        let headless = json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "ports": [{"port": 1}]}});
        let web = json!({"metadata": {"name": "web"}, "spec": {"clusterIP": "10.43.0.9", "ports": [{"port": 8080}]}});
        let local = [headless, web];
        let seen = visible("apps", true, Some(&kube), &local);
        let names: Vec<&str> = seen
            .iter()
            .map(|s| s["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["kubernetes", "web"]);
        let seen = visible("apps", false, Some(&kube), &local);
        assert_eq!(seen.len(), 1);
        let vars = variables(&seen);
        assert_eq!(
            vars[0],
            ("KUBERNETES_SERVICE_HOST".into(), "10.43.0.1".into())
        );
        assert_eq!(
            vars[2],
            ("KUBERNETES_SERVICE_PORT_HTTPS".into(), "443".into())
        );
    }
}
