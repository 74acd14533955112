//! `GET pods/<name>/log`: the container is chosen and checked here with kube-apiserver's
//! rules and messages; the bytes come from the node agent ([`PodLogHost`]).

use futures::StreamExt;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use serde_json::Value;
use tokio::sync::mpsc;

use super::Ctx;
use super::write::get_current;
use crate::error::{ApiError, ApiResult};
use crate::pod_log_host::PodLogRequest;
use crate::response::{self, Body};

/// Answers a `pods/log` request: the log as text, streaming while `follow` holds (until the
/// container ends, the client goes or the server stops).
pub(super) async fn get(ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    let pod = get_current(ctx).await?.obj;
    let name = ctx.name();
    let container = choose_container(&pod, name, ctx.query.container.as_deref())?;
    if pod["spec"]["nodeName"].as_str().unwrap_or("").is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let host = ctx.pod_log_host.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the node agent is not running: pod logs are not available",
        )
    })?;
    let mut stream = host
        .logs(PodLogRequest {
            pod: &pod,
            container: &container,
            previous: ctx.query.previous,
            query: &ctx.query.raw,
        })
        .map_err(|e| {
            let reason = if e.code == StatusCode::NOT_FOUND {
                "NotFound"
            } else {
                "BadRequest"
            };
            ApiError::new(e.code, reason, e.message)
        })?;
    let (tx, rx) = mpsc::channel(16);
    let mut stopping = ctx.stopping.clone();
    tokio::spawn(async move {
        loop {
            let chunk = tokio::select! {
                _ = stopping.wait_for(|stop| *stop) => return,
                _ = tx.closed() => return,
                chunk = stream.next() => chunk,
            };
            match chunk {
                Some(Ok(bytes)) => {
                    if tx.send(bytes).await.is_err() {
                        return;
                    }
                }
                Some(Err(err)) => {
                    tracing::warn!(%err, "reading a pod log failed");
                    return;
                }
                None => return,
            }
        }
    });
    let mut resp = response::stream(rx);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}

/// The container a log request is for, as kube-apiserver chooses it: the one named (an app,
/// init or ephemeral container), else the pod's only container, else the one the
/// `kubectl.kubernetes.io/default-container` annotation names.
pub(super) fn choose_container(
    pod: &Value,
    pod_name: &str,
    asked: Option<&str>,
) -> ApiResult<String> {
    let names = |field: &str| -> Vec<String> {
        pod["spec"][field]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = names("containers");
    let init = names("initContainers");
    let ephemeral = names("ephemeralContainers");
    if let Some(asked) = asked {
        if containers
            .iter()
            .chain(&init)
            .chain(&ephemeral)
            .any(|n| n == asked)
        {
            return Ok(asked.to_string());
        }
        return Err(ApiError::bad_request(format!(
            "container {asked} is not valid for pod {pod_name}"
        )));
    }
    if containers.len() == 1 {
        return Ok(containers[0].clone());
    }
    if let Some(default) = pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"]
        .as_str()
        .filter(|d| containers.iter().any(|n| n == d))
    {
        return Ok(default.to_string());
    }
    let mut message = format!(
        "a container name must be specified for pod {pod_name}, choose one of: [{}]",
        containers.join(" ")
    );
    if !init.is_empty() {
        message.push_str(&format!(
            " or one of the init containers: [{}]",
            init.join(" ")
        ));
    }
    if !ephemeral.is_empty() {
        message.push_str(&format!(
            " or one of the ephemeral containers: [{}]",
            ephemeral.join(" ")
        ));
    }
    Err(ApiError::bad_request(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_only_container_is_chosen_and_others_need_a_name() {
        let one = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(choose_container(&one, "p", None).unwrap(), "a");
        let two = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}],
            "initContainers": [{"name": "i"}]}});
        assert_eq!(
            choose_container(&two, "p", None).unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
        );
        assert_eq!(choose_container(&two, "p", Some("i")).unwrap(), "i");
        assert_eq!(
            choose_container(&two, "p", Some("x")).unwrap_err().message,
            "container x is not valid for pod p"
        );
        let annotated = json!({"metadata": {"annotations": {"kubectl.kubernetes.io/default-container": "b"}},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(choose_container(&annotated, "p", None).unwrap(), "b");
    }
}
