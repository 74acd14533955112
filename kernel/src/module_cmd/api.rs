//! The Module API as `kmicro module` uses it: one connection, the requests, and failed calls
//! turned into the message of their `Status`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::client::{Answer, ApiClient, Kubeconfig};

/// The Module collection.
const MODULES: &str = "/apis/modules.kmicro.io/v1alpha1/modules";

/// The kubeconfig to use: the flag, else the first file of `$KUBECONFIG`, else the data
/// dir's admin kubeconfig.
pub(super) fn kubeconfig_path(flag: Option<&Path>, data_dir: &Path) -> PathBuf {
    if let Some(path) = flag {
        return path.to_path_buf();
    }
    let from_env = std::env::var_os("KUBECONFIG")
        .and_then(|list| std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty()));
    from_env.unwrap_or_else(|| data_dir.join("kubeconfig.yaml"))
}

/// A connection to the API server, speaking about Modules.
pub(super) struct Modules {
    client: ApiClient,
}

impl Modules {
    /// Connects to the server `kubeconfig` names.
    pub(super) async fn connect(kubeconfig: &Path) -> anyhow::Result<Self> {
        let config = Kubeconfig::read(kubeconfig)?;
        let client = ApiClient::connect(&config)
            .await
            .with_context(|| format!("connecting to {}", config.server))?;
        Ok(Self { client })
    }

    /// All Modules (the `ModuleList`'s items).
    pub(super) async fn list(&self) -> anyhow::Result<Vec<Value>> {
        let answer = self.client.call(Method::GET, MODULES, None).await?;
        let list = json(ok(answer, "listing modules")?)?;
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }

    /// One Module.
    pub(super) async fn get(&self, name: &str) -> anyhow::Result<Value> {
        let answer = self
            .client
            .call(Method::GET, &format!("{MODULES}/{name}"), None)
            .await?;
        json(ok(answer, &format!("reading module {name}"))?)
    }

    /// Creates `module`.
    pub(super) async fn create(&self, module: &Value) -> anyhow::Result<Value> {
        let body = Bytes::from(module.to_string());
        let answer = self.client.call(Method::POST, MODULES, Some(body)).await?;
        json(ok(answer, "creating the module")?)
    }

    /// Merge-patches Module `name` with `patch`; answers the Module.
    pub(super) async fn merge_patch(&self, name: &str, patch: &Value) -> anyhow::Result<Value> {
        let path = format!("{MODULES}/{name}");
        let body = Bytes::from(patch.to_string());
        let answer = self
            .client
            .call_body(
                Method::PATCH,
                &path,
                Some(("application/merge-patch+json", body)),
            )
            .await?;
        json(ok(answer, &format!("updating module {name}"))?)
    }

    /// Uploads `component` as module `name`'s source; answers the Module.
    pub(super) async fn put_source(&self, name: &str, component: Bytes) -> anyhow::Result<Value> {
        let path = format!("{MODULES}/{name}/source");
        let answer = self
            .client
            .call_body(Method::PUT, &path, Some(("application/wasm", component)))
            .await?;
        json(ok(
            answer,
            &format!("uploading the component of module {name}"),
        )?)
    }

    /// Module `name`'s component.
    pub(super) async fn get_source(&self, name: &str) -> anyhow::Result<Bytes> {
        let path = format!("{MODULES}/{name}/source");
        let answer = self.client.call(Method::GET, &path, None).await?;
        ok(answer, &format!("reading the component of module {name}"))
    }

    /// Deletes module `name`.
    pub(super) async fn delete(&self, name: &str) -> anyhow::Result<()> {
        let path = format!("{MODULES}/{name}");
        let answer = self.client.call(Method::DELETE, &path, None).await?;
        ok(answer, &format!("deleting module {name}"))?;
        Ok(())
    }

    /// Prints module `name`'s log to standard output, following it if asked.
    pub(super) async fn logs(
        &self,
        name: &str,
        follow: bool,
        tail: Option<usize>,
    ) -> anyhow::Result<()> {
        let mut path = format!("{MODULES}/{name}/log?follow={follow}");
        if let Some(tail) = tail {
            path.push_str(&format!("&tailLines={tail}"));
        }
        let response = self.client.send(Method::GET, &path, None).await?;
        let status = response.status();
        let mut body = response.into_body();
        if status != StatusCode::OK {
            let bytes = body
                .collect()
                .await
                .context("reading the answer")?
                .to_bytes();
            return Err(failure(
                status,
                &bytes,
                &format!("reading the log of module {name}"),
            ));
        }
        let mut stdout = std::io::stdout().lock();
        while let Some(frame) = body.frame().await {
            let frame = frame.context("reading the log")?;
            if let Ok(data) = frame.into_data() {
                stdout
                    .write_all(&data)
                    .context("writing to standard output")?;
                stdout.flush().context("writing to standard output")?;
            }
        }
        Ok(())
    }
}

/// The body of a 2xx answer, else the failure's message.
fn ok(answer: Answer, what: &str) -> anyhow::Result<Bytes> {
    if answer.status.is_success() {
        Ok(answer.body)
    } else {
        Err(failure(answer.status, &answer.body, what))
    }
}

/// The error of a failed call: what was being done and the `Status` message (or the body).
pub(super) fn failure(status: StatusCode, body: &[u8], what: &str) -> anyhow::Error {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|s| s["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned());
    anyhow::anyhow!("{what}: {message} ({status})")
}

fn json(bytes: Bytes) -> anyhow::Result<Value> {
    serde_json::from_slice(&bytes).context("the server's answer is not JSON")
}

/// Whether an error is the API's 409 AlreadyExists.
pub(super) fn refuse_existing(name: &str, err: anyhow::Error) -> anyhow::Error {
    if format!("{err}").contains("already exists") {
        anyhow::anyhow!(
            "module {name} already exists: use `kmicro module swap {name} FILE` to replace its component"
        )
    } else {
        err
    }
}

/// Fails unless `text` is a JSON object (a module's configuration).
pub(super) fn config_object(text: &str, from: &str) -> anyhow::Result<Value> {
    let value: Value =
        serde_json::from_str(text).with_context(|| format!("--config {from}: not JSON"))?;
    if !value.is_object() {
        bail!("--config {from}: must be a JSON object");
    }
    Ok(value)
}
