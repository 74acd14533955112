//! Hot swaps of one module with a given component, the way `kmicro module swap` makes them:
//! the component uploaded to `…/source`; when that leaves the spec as it was (the same bytes
//! already run), the swap is requested through the swap-request annotation. Each swap's pause
//! is read from the module's status (`lastSwapPauseMicros`, once `observedSwapRequest` shows
//! the request was acted on) or, from a kernel that does not report `observedSwapRequest`,
//! from the sandbox's own `swapped to version … (generation N), paused …` line in the module's
//! log.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::MODULES;
use crate::client::ApiClient;

/// The annotation that asks the kernel to swap in the same source again (the supervisor's
/// `SWAP_REQUEST`).
const SWAP_REQUEST: &str = "modules.kmicro.io/swap-requested-at";
/// How long one swap may take before the run fails.
const SWAP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a pending swap is checked.
const POLL: Duration = Duration::from_millis(25);
/// How the sandbox's log line about a swap starts (after `[kmicro] `).
const SWAPPED_LINE: &str = "[kmicro] swapped to version ";

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
    let last_generation = logged_swaps(client, name).await?.last().map(|s| s.0);
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
        let patch = json!({"metadata": {"annotations": {SWAP_REQUEST: value}}});
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
        if error.starts_with("swap refused") {
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
        if request.is_some() && status.get("observedSwapRequest").is_none() {
            // A kernel without observedSwapRequest: the sandbox's log line tells.
            let logged = logged_swaps(client, name).await?;
            if let Some((_, pause)) = logged.iter().find(|(g, _)| Some(*g) > last_generation) {
                return Ok(Swap {
                    pause: *pause,
                    wall: started.elapsed(),
                });
            }
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

/// The swaps the module's recent log records: (sandbox generation, pause), oldest first.
async fn logged_swaps(client: &ApiClient, name: &str) -> anyhow::Result<Vec<(u64, Duration)>> {
    let body = client
        .call(
            Method::GET,
            &format!("{MODULES}/{name}/log?tailLines=200"),
            None,
        )
        .await?
        .expect(StatusCode::OK, &format!("reading module {name}'s log"))?;
    Ok(String::from_utf8_lossy(&body)
        .lines()
        .filter_map(parse_swapped)
        .collect())
}

/// `… [kmicro] swapped to version 0.1.0 (generation 3), paused 85.2µs` → (3, 85.2 µs).
fn parse_swapped(line: &str) -> Option<(u64, Duration)> {
    let (_, rest) = line.split_once(SWAPPED_LINE)?;
    let (_, rest) = rest.split_once("(generation ")?;
    let (generation, rest) = rest.split_once(')')?;
    let pause = rest.trim().strip_prefix(", paused ")?.trim();
    Some((generation.parse().ok()?, parse_debug_duration(pause)?))
}

/// A `Duration`'s `Debug` form (`850ns`, `85.2µs`, `1.5ms`, `2s`).
fn parse_debug_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let nanos_per_unit = match unit {
        "ns" => 1.0,
        "µs" | "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    };
    Some(Duration::from_nanos(
        (number * nanos_per_unit).round() as u64
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_lines_parse() {
        let line = "2026-11-26T15:00:00.123Z INFO  [kmicro] swapped to version 0.1.0 \
                    (generation 3), paused 85.2µs";
        assert_eq!(parse_swapped(line), Some((3, Duration::from_nanos(85_200))));
        assert_eq!(parse_swapped("… INFO  [kmicro] unloaded"), None);
        assert_eq!(
            parse_swapped("… INFO  swapped to version 1 (generation 2), paused 1ms"),
            None
        );
    }

    #[test]
    fn debug_durations_parse() {
        for d in [
            Duration::from_nanos(850),
            Duration::from_micros(85),
            Duration::from_micros(1500),
            Duration::from_secs(2),
        ] {
            let parsed = parse_debug_duration(&format!("{d:?}")).map(|p| p.as_nanos());
            assert_eq!(parsed, Some(d.as_nanos()), "{d:?}");
        }
        assert_eq!(parse_debug_duration("12 parsecs"), None);
    }
}
