//! Uploaded modules are compiled by a short-lived child process (`kmicro __compile-module`),
//! never in the kernel itself.
//!
//! Cranelift's working memory for a component the size of the controllers module peaks at
//! about 100 MiB of small allocations (heaptrack on `kmicro bench modules`). Freed inside
//! the kernel, it stayed resident as fragmented heap; in a child it goes back to the system
//! when the child exits. A component that crashes the compiler or makes it run away takes
//! only the child down.
//!
//! The child reads the component on stdin and writes the artifact on stdout; the kernel
//! writes it into its artifact directory (temporary name, synced, renamed) and hands the
//! sandbox the file to map, as it does the built-ins'. A source compiled once in this run is
//! not compiled again (a swap to the same bytes, a module reloaded). The directory is emptied
//! at start: an artifact loads only into the wasmtime that made it, so artifacts never
//! outlive the binary's run.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use kmicro_sandbox::{Artifact, Target};
use tokio::io::AsyncWriteExt as _;

/// The hidden subcommand the child runs.
pub const SUBCOMMAND: &str = "__compile-module";

/// The artifacts of uploaded modules compiled in this run.
#[derive(Debug)]
pub struct CompiledArtifacts {
    dir: PathBuf,
}

impl CompiledArtifacts {
    /// Artifacts kept in `dir`, which is emptied (or created) now.
    pub fn new(dir: PathBuf) -> std::io::Result<Self> {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// The artifact of module `name` with component `wasm`: compiled by a child process
    /// unless this source was compiled before in this run. Without a compiler in this build
    /// the component itself is returned (the sandbox then says it cannot compile it).
    pub async fn artifact(&self, name: &str, wasm: Vec<u8>) -> Result<Artifact, String> {
        if !kmicro_sandbox::HAS_COMPILER {
            return Ok(Artifact::Wasm(wasm.into()));
        }
        let source = hex_sha256(&wasm);
        let path = self.dir.join(format!("{name}-{}.cwasm", &source[..16]));
        if !path.exists() {
            let artifact = compile_in_child(name, wasm).await?;
            let (dir, file) = (self.dir.clone(), path.clone());
            tokio::task::spawn_blocking(move || write_artifact(&dir, &file, &artifact))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("module {name}: writing its artifact: {e}"))?;
            remove_older(&self.dir, name, &path);
        }
        let file = path.clone();
        let digest =
            tokio::task::spawn_blocking(move || std::fs::read(&file).map(|b| hex_sha256(&b)))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("module {name}: reading its artifact: {e}"))?;
        Ok(Artifact::PrecompiledFile {
            path,
            digest: format!("sha256:{digest}"),
        })
    }
}

/// Runs `kmicro __compile-module` on `wasm` and answers its artifact, or the compiler's
/// message as the sandbox words a compile failure.
async fn compile_in_child(name: &str, wasm: Vec<u8>) -> Result<Vec<u8>, String> {
    let failed =
        |message: String| format!("module {name}: compiling its component failed: {message}");
    let exe =
        std::env::current_exe().map_err(|e| failed(format!("finding the kmicro binary: {e}")))?;
    let started = std::time::Instant::now();
    let mut child = tokio::process::Command::new(&exe)
        .arg(SUBCOMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("starting {} {SUBCOMMAND}: {e}", exe.display())))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| failed("no stdin".into()))?;
    let feed = tokio::spawn(async move {
        // The child reads everything before it compiles; a write error shows as its exit.
        let _ = stdin.write_all(&wasm).await;
    });
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| failed(format!("waiting for the compiler: {e}")))?;
    let _ = feed.await;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr.trim().trim_start_matches("kmicro: ").to_string();
        return Err(failed(if message.is_empty() {
            format!("the compiler exited with {}", output.status)
        } else {
            message
        }));
    }
    tracing::info!(
        module = name,
        bytes = output.stdout.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "compiled the module's component in a child process"
    );
    Ok(output.stdout)
}

/// The child's work: a component on stdin, its artifact for this binary's target on stdout.
pub fn run_child() -> anyhow::Result<()> {
    use std::io::{Read as _, Write as _};
    let mut wasm = Vec::new();
    std::io::stdin().read_to_end(&mut wasm)?;
    let artifact = kmicro_sandbox::precompile(&wasm, &Target::native())
        .map_err(|e| anyhow::anyhow!(compile_message(e)))?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&artifact)?;
    stdout.flush()?;
    Ok(())
}

/// The compiler's own words from a sandbox error (not the "(precompile)" wrapping).
fn compile_message(error: kmicro_sandbox::SandboxError) -> String {
    match error {
        kmicro_sandbox::SandboxError::Compile { message, .. } => message,
        other => other.to_string(),
    }
}

fn write_artifact(dir: &Path, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = dir.join(format!(".{file_name}.tmp"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(artifact)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// Removes module `name`'s other artifacts (earlier sources; a running instance keeps its
/// mapping of a removed file).
fn remove_older(dir: &Path, name: &str, keep: &Path) {
    let prefix = format!("{name}-");
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let older = path != keep
            && file_name.ends_with(".cwasm")
            && file_name
                .strip_prefix(&prefix)
                .is_some_and(|rest| !rest.contains('-'));
        if older && let Err(err) = std::fs::remove_file(&path) {
            tracing::warn!(%err, path = %path.display(), "removing an older module artifact");
        }
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
