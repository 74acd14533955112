//! Hot swaps of one module with a given component, the way `kmicro module swap` makes them:
//! the component uploaded to `…/source`; when that leaves the spec as it was (the same bytes
//! already run), the swap is requested through the swap-request annotation. Each swap's pause
//! is read from the module's status (`lastSwapPauseMicros`), once the status shows the new
//! digest running or `observedSwapRequest` shows the request was acted on.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use kmicro_apimachinery::module::{SWAP_REFUSED, SWAP_REQUEST_ANNOTATION};

use super::MODULES;
use crate::client::ApiClient;
/// How long one swap may take before the run fails.
const SWAP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a pending swap is checked.
const POLL: Duration = Duration::from_millis(25);

/// One completed swap.
#[derive(Debug, Clone, Copy)]
pub(super) struct Swap {
    /// How long event delivery paused (the kernel's measure).
    pub(super) pause: Duration,
    /// From the request (upload or annotation) to the benchmark seeing it done.
    pub(super) wall: Duration,
}

/// Swaps module `name` to `component` `count` times, one after the other.
pub(super) async fn run(
    client: &ApiClient,
    name: &str,
    component: Bytes,
    count: usize,
) -> anyhow::Result<Vec<Swap>> {
    let mut swaps = Vec::with_capacity(count);
    for i in 0..count {
        let swap = one(client, name, component.clone(), i)
            .await
            .with_context(|| format!("swap {} of {count} of module {name}", i + 1))?;
        swaps.push(swap);
    }
    Ok(swaps)
}

async fn one(client: &ApiClient, name: &str, component: Bytes, i: usize) -> anyhow::Result<Swap> {
    let module_path = format!("{MODULES}/{name}");
    let before = get(client, &module_path).await?;
    let started = Instant::now();
    let uploaded = client
        .call_body(
            Method::PUT,
            &format!("{module_path}/source"),
            Some(("application/wasm", component)),
        )
        .await?
        .expect(StatusCode::OK, "uploading the component")?;
    let uploaded: Value = serde_json::from_slice(&uploaded).context("the upload's answer")?;
    let generation = uploaded["metadata"]["generation"].as_i64().unwrap_or(0);
    let digest = uploaded["spec"]["source"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let request = if generation == before["metadata"]["generation"].as_i64().unwrap_or(0) {
        // The same bytes: ask for the swap explicitly.
        let value = format!("{} (bench swap {})", jiff::Timestamp::now(), i + 1);
        let patch = json!({"metadata": {"annotations": {SWAP_REQUEST_ANNOTATION: value}}});
        client
            .call_body(
                Method::PATCH,
                &module_path,
                Some((
                    "application/merge-patch+json",
                    Bytes::from(patch.to_string()),
                )),
            )
            .await?
            .expect(StatusCode::OK, "annotating the swap request")?;
        Some(value)
    } else {
        None
    };

    let deadline = started + SWAP_TIMEOUT;
    loop {
        let module = get(client, &module_path).await?;
        let status = &module["status"];
        let error = status["lastError"].as_str().unwrap_or_default();
        if error.starts_with(SWAP_REFUSED) {
            bail!("{error}");
        }
        let done = match &request {
            // A new source: running it, this generation observed.
            None => {
                status["observedGeneration"].as_i64().unwrap_or(0) >= generation
                    && status["digest"].as_str() == Some(&digest)
                    && status["phase"].as_str() == Some("Running")
            }
            Some(value) => status["observedSwapRequest"].as_str() == Some(value),
        };
        if done {
            let micros = status["lastSwapPauseMicros"]
                .as_u64()
                .context("the module was loaded again, not swapped (no lastSwapPauseMicros)")?;
            return Ok(Swap {
                pause: Duration::from_micros(micros),
                wall: started.elapsed(),
            });
        }
        if Instant::now() > deadline {
            bail!("not done after {SWAP_TIMEOUT:?}; the module's status: {status}");
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn get(client: &ApiClient, path: &str) -> anyhow::Result<Value> {
    let body = client
        .call(Method::GET, path, None)
        .await?
        .expect(StatusCode::OK, &format!("reading {path}"))?;
    serde_json::from_slice(&body).with_context(|| format!("{path}: not JSON"))
}
