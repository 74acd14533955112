//! `kmicro module load|swap|export`: components in and out.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use kmicro_apimachinery::module::{
    ModulePhase, SWAP_REFUSED, SWAP_REQUEST_ANNOTATION, human_bytes,
};
use serde_json::{Value, json};

use super::api::{Modules, config_object, refuse_existing};
use super::{LoadArgs, SwapArgs};

/// How often `swap` looks at the module's status.
const POLL: Duration = Duration::from_millis(250);

/// Creates the Module and uploads its component.
pub(super) async fn load(client: &Modules, args: LoadArgs) -> anyhow::Result<()> {
    let component = read_component(&args.file)?;
    let mut spec = json!({});
    if let Some(config) = &args.config {
        spec["config"] = match config.strip_prefix('@') {
            Some(file) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("--config @{file}: cannot read it"))?;
                config_object(&text, &format!("@{file}"))?
            }
            None => config_object(config, "")?,
        };
    }
    if let Some(memory) = &args.memory {
        spec["limits"] = json!({ "memory": memory });
    }
    let module = json!({
        "apiVersion": "modules.kmicro.io/v1alpha1",
        "kind": "Module",
        "metadata": {"name": args.name},
        "spec": spec,
    });
    client
        .create(&module)
        .await
        .map_err(|err| refuse_existing(&args.name, err))?;
    let uploaded = upload(client, &args.name, component).await?;
    println!("module {} loaded: {}", args.name, digest_of(&uploaded));
    Ok(())
}

/// Uploads a new component and waits until the module runs it (or fails, or time runs out).
///
/// When the upload leaves the spec as it was (the same bytes as the running source), the swap
/// is requested through the [`SWAP_REQUEST_ANNOTATION`] annotation, and its completion read
/// from `status.observedSwapRequest`.
pub(super) async fn swap(client: &Modules, args: SwapArgs) -> anyhow::Result<()> {
    let component = read_component(&args.file)?;
    // A missing module is named before the upload.
    let before = client.get(&args.name).await?;
    let uploaded = upload(client, &args.name, component).await?;
    let digest = digest_of(&uploaded).to_string();
    let generation = uploaded["metadata"]["generation"].as_i64().unwrap_or(0);
    let request = if generation == before["metadata"]["generation"].as_i64().unwrap_or(0) {
        Some(request_swap(client, &args.name).await?)
    } else {
        None
    };
    println!("{digest}");
    if args.no_wait {
        return Ok(());
    }
    let wanted = Wanted {
        digest: &digest,
        generation,
        request: request.as_deref(),
    };
    let deadline = Instant::now() + args.timeout;
    loop {
        let module = client.get(&args.name).await?;
        match progress(&module, &wanted) {
            Progress::Running => {
                let version = module["status"]["version"].as_str().unwrap_or("?");
                eprintln!("module {} runs {digest} (version {version})", args.name);
                return Ok(());
            }
            Progress::Failed(why) => bail!("module {} did not start {digest}: {why}", args.name),
            Progress::Waiting => {}
        }
        if Instant::now() >= deadline {
            let status = &module["status"];
            bail!(
                "module {}: {digest} not running after {:?} (phase {}, running {}); is the kernel's module supervisor up?",
                args.name,
                args.timeout,
                status["phase"].as_str().unwrap_or("Pending"),
                status["digest"].as_str().unwrap_or("nothing"),
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Asks the kernel to swap module `name` in again from its (unchanged) source: sets the
/// swap-request annotation to a fresh RFC 3339 timestamp, which it answers.
async fn request_swap(client: &Modules, name: &str) -> anyhow::Result<String> {
    let stamp = jiff::Timestamp::now().to_string();
    let patch = json!({"metadata": {"annotations": {SWAP_REQUEST_ANNOTATION: stamp}}});
    client.merge_patch(name, &patch).await?;
    Ok(stamp)
}

/// What a swap waits for.
struct Wanted<'a> {
    /// The digest of the uploaded component.
    digest: &'a str,
    /// The Module's generation after the upload.
    generation: i64,
    /// The swap request made, when the upload did not change the spec.
    request: Option<&'a str>,
}

/// Where a swap stands, from the Module's status.
#[derive(Debug, PartialEq, Eq)]
enum Progress {
    /// The new component runs.
    Running,
    /// The kernel gave up on it.
    Failed(String),
    /// Not yet acted on, or starting.
    Waiting,
}

fn progress(module: &Value, wanted: &Wanted) -> Progress {
    let status = &module["status"];
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    if observed < wanted.generation {
        return Progress::Waiting;
    }
    if let Some(request) = wanted.request
        && status["observedSwapRequest"].as_str() != Some(request)
    {
        return Progress::Waiting;
    }
    let last_error = status["lastError"].as_str().filter(|e| !e.is_empty());
    if let Some(refused) = last_error.filter(|e| e.starts_with(SWAP_REFUSED)) {
        return Progress::Failed(refused.to_string());
    }
    let phase = status["phase"].as_str().and_then(ModulePhase::parse);
    let running = status["digest"].as_str() == Some(wanted.digest);
    match phase {
        Some(ModulePhase::Running) if running => Progress::Running,
        Some(ModulePhase::Failed | ModulePhase::BackOff) => {
            Progress::Failed(last_error.unwrap_or("no error reported").to_string())
        }
        _ => Progress::Waiting,
    }
}

/// Writes the module's component to `output` (`-`: standard output).
pub(super) async fn export(client: &Modules, name: &str, output: &Path) -> anyhow::Result<()> {
    let bytes = client.get_source(name).await?;
    if output == Path::new("-") {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&bytes)
            .context("writing to standard output")?;
        return stdout.flush().context("writing to standard output");
    }
    let dir = match output.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    tmp.write_all(&bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", output.display()))?;
    tmp.persist(output)
        .with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "module {name}: {} written to {}",
        human_bytes(bytes.len() as u64),
        output.display()
    );
    Ok(())
}

fn read_component(file: &Path) -> anyhow::Result<Bytes> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    Ok(Bytes::from(bytes))
}

/// Uploads `component`, saying so on a terminal; answers the Module.
async fn upload(client: &Modules, name: &str, component: Bytes) -> anyhow::Result<Value> {
    let size = component.len() as u64;
    let terminal = std::io::stderr().is_terminal();
    if terminal {
        eprint!("uploading {} to module {name} …", human_bytes(size));
    }
    let started = Instant::now();
    let result = client.put_source(name, component).await;
    if terminal {
        eprintln!(" {:.1}s", started.elapsed().as_secs_f64());
    }
    result
}

fn digest_of(module: &Value) -> &str {
    module["spec"]["source"]["digest"].as_str().unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_progress_follows_the_status() {
        let d = "sha256:new";
        let wanted = Wanted {
            digest: d,
            generation: 2,
            request: None,
        };
        let module = |status: Value| json!({ "status": status });
        assert_eq!(progress(&module(json!({})), &wanted), Progress::Waiting);
        // The old digest still running at the old generation: waiting.
        let old = json!({"observedGeneration": 1, "phase": "Running", "digest": "sha256:old"});
        assert_eq!(progress(&module(old), &wanted), Progress::Waiting);
        let starting =
            json!({"observedGeneration": 2, "phase": "Starting", "digest": "sha256:old"});
        assert_eq!(progress(&module(starting), &wanted), Progress::Waiting);
        let running = json!({"observedGeneration": 2, "phase": "Running", "digest": d});
        assert_eq!(progress(&module(running), &wanted), Progress::Running);
        let failed = json!({"observedGeneration": 3, "phase": "BackOff", "lastError": "trap"});
        assert_eq!(
            progress(&module(failed), &wanted),
            Progress::Failed("trap".into())
        );
        // Refused: the old version runs on, and lastError says why.
        let refused = json!({"observedGeneration": 2, "phase": "Running", "digest": "sha256:old",
            "lastError": "swap refused: init failed"});
        assert_eq!(
            progress(&module(refused), &wanted),
            Progress::Failed("swap refused: init failed".into())
        );
    }

    #[test]
    fn a_swap_of_the_same_bytes_waits_for_its_request() {
        let d = "sha256:same";
        let wanted = Wanted {
            digest: d,
            generation: 2,
            request: Some("2026-01-01T00:00:02Z"),
        };
        let module = |status: Value| json!({ "status": status });
        // Already running those bytes, but the request is not answered yet.
        let before = json!({"observedGeneration": 2, "phase": "Running", "digest": d,
            "observedSwapRequest": "2026-01-01T00:00:01Z"});
        assert_eq!(progress(&module(before), &wanted), Progress::Waiting);
        let before = json!({"observedGeneration": 2, "phase": "Running", "digest": d,
            "observedSwapRequest": "2026-01-01T00:00:01Z", "lastError": "swap refused: old"});
        assert_eq!(progress(&module(before), &wanted), Progress::Waiting);
        let swapped = json!({"observedGeneration": 2, "phase": "Running", "digest": d,
            "observedSwapRequest": "2026-01-01T00:00:02Z"});
        assert_eq!(progress(&module(swapped), &wanted), Progress::Running);
        let refused = json!({"observedGeneration": 2, "phase": "Running", "digest": d,
            "observedSwapRequest": "2026-01-01T00:00:02Z", "lastError": "swap refused: trap"});
        assert_eq!(
            progress(&module(refused), &wanted),
            Progress::Failed("swap refused: trap".into())
        );
    }
}
