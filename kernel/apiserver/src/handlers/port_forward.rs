//! `pods/<name>/portforward`: the pod and the request are checked here as kube-apiserver
//! and kubelet check them; the upgrade and the SPDY session are [`crate::port_forward`]'s,
//! the connections to the pod the node agent's ([`PodPortForwardHost`]).
//!
//! [`PodPortForwardHost`]: crate::port_forward_host::PodPortForwardHost

use http::{Response, StatusCode};
use serde_json::Value;

use super::Ctx;
use super::write::get_current;
use crate::error::{ApiError, ApiResult};
use crate::port_forward::{self, negotiate};
use crate::port_forward_host::PortForwardTarget;
use crate::response::Body;

/// Answers a port-forward request with `101 Switching Protocols` and serves the session, or
/// with the `Status` of what is wrong.
pub(super) async fn connect(ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    let pod = get_current(ctx).await?.obj;
    let name = ctx.name();
    ports(&ctx.query.raw)?;
    if pod["spec"]["nodeName"].as_str().unwrap_or("").is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
    if phase != "Running" {
        return Err(ApiError::bad_request(format!(
            "unable to forward port because pod is not running. Current status={phase}"
        )));
    }
    let upgrade = negotiate(ctx.headers)?;
    let on_upgrade = ctx
        .upgrade
        .clone()
        .ok_or_else(|| ApiError::bad_request("Upgrade request required"))?;
    let host = ctx.port_forward_host.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the node agent is not running: port forwarding is not available",
        )
    })?;
    Ok(port_forward::start(
        upgrade,
        on_upgrade,
        target(&pod),
        host,
        ctx.stopping.clone(),
    ))
}

/// The pod a session forwards to.
fn target(pod: &Value) -> PortForwardTarget {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    PortForwardTarget {
        namespace: text(&pod["metadata"]["namespace"]),
        name: text(&pod["metadata"]["name"]),
        uid: text(&pod["metadata"]["uid"]),
        host_network: pod["spec"]["hostNetwork"].as_bool().unwrap_or(false),
    }
}

/// The `ports` query parameters (repeated, or comma-separated as kubelet also reads them),
/// each checked as kubelet checks them; the streams name their ports themselves.
fn ports(query: &str) -> ApiResult<Vec<u16>> {
    let mut ports = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "ports" {
            continue;
        }
        for port in value.split(',').filter(|p| !p.is_empty()) {
            let parsed: u16 = port.parse().map_err(|_| {
                ApiError::bad_request(format!("unable to parse {port:?} as a port"))
            })?;
            if parsed == 0 {
                return Err(ApiError::bad_request(format!("port {port:?} must be > 0")));
            }
            ports.push(parsed);
        }
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_ports() {
        assert_eq!(ports("ports=8080&ports=80,81").unwrap(), vec![8080, 80, 81]);
        assert_eq!(ports("").unwrap(), Vec::<u16>::new());
        assert_eq!(
            ports("ports=http").unwrap_err().message,
            "unable to parse \"http\" as a port"
        );
        assert_eq!(
            ports("ports=0").unwrap_err().message,
            "port \"0\" must be > 0"
        );
        assert!(ports("ports=70000").is_err());
    }
}
