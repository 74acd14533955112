//! Builds the built-in modules listed in `modules/builtin.txt` for `wasm32-wasip2` (a nested
//! cargo with its own target directory beside this build's, so it is cached between builds),
//! precompiles each for this build's target, and writes `builtin.rs` into `OUT_DIR`: the
//! table `lib.rs` includes, with the raw component and the artifact of each module (both
//! zstd-compressed) and their digests.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kmicro_sandbox::{Target, precompile};
use kmicro_wasm_build::WasmBuild;

/// One line of `builtin.txt`.
struct Entry {
    name: String,
    package: String,
}

fn main() {
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let repo = manifest_dir
        .ancestors()
        .nth(2)
        .ok_or("sandbox/builtin has no repository above it")?;
    let modules = repo.join("modules");
    let out_dir = PathBuf::from(env("OUT_DIR")?);
    let triple = env("TARGET")?;

    watch(&modules, &repo.join("sandbox/wit"))?;
    let list = modules.join("builtin.txt");
    let text = std::fs::read_to_string(&list).map_err(|e| format!("{}: {e}", list.display()))?;
    let entries = parse(&text).map_err(|e| format!("{}: {e}", list.display()))?;

    let packages: Vec<&str> = entries.iter().map(|e| e.package.as_str()).collect();
    let wasm_target_dir = target_dir(&out_dir, &triple).join("wasm-modules");
    let built = WasmBuild::new(&modules.join("Cargo.toml"), &wasm_target_dir, &packages)
        .run()
        .map_err(|e| e.to_string())?;

    let target = Target::for_triple(&triple);
    let mut table = String::new();
    writeln!(table, "/// The triple the artifacts were compiled for.").ok();
    writeln!(table, "pub const TARGET: &str = {:?};", target.triple()).ok();
    writeln!(table, "static ALL: &[BuiltinModule] = &[").ok();
    for (entry, built) in entries.iter().zip(&built) {
        let wasm =
            std::fs::read(&built.wasm).map_err(|e| format!("{}: {e}", built.wasm.display()))?;
        let artifact =
            precompile(&wasm, &target).map_err(|e| format!("precompiling {}: {e}", entry.name))?;
        write_file(
            &out_dir.join(format!("{}.wasm.zst", entry.name)),
            &compress(&wasm)?,
        )?;
        write_file(
            &out_dir.join(format!("{}.cwasm.zst", entry.name)),
            &compress(&artifact)?,
        )?;
        writeln!(
            table,
            "    BuiltinModule {{ name: {name:?}, \
             wasm_zst: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{name}.wasm.zst\")), \
             artifact_zst: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{name}.cwasm.zst\")), \
             digest: \"{digest}\", artifact_digest: \"{artifact_digest}\", artifact_len: {len} }},",
            name = entry.name,
            digest = sha256(&wasm),
            artifact_digest = sha256(&artifact),
            len = artifact.len(),
        )
        .ok();
    }
    writeln!(table, "];").ok();
    write_file(&out_dir.join("builtin.rs"), table.as_bytes())
}

/// `sha256:<hex>` of `bytes`.
fn sha256(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// `bytes` zstd-compressed at level 19: the artifacts are mostly interpreter bytecode and
/// tables, which shrink about sixfold, and the binary's size is what a board pays (the
/// encoder runs at build time only; the binary carries just the decoder).
fn compress(bytes: &[u8]) -> Result<Vec<u8>, String> {
    zstd::bulk::compress(bytes, 19).map_err(|e| format!("compressing: {e}"))
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("cargo did not set {name}"))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads `builtin.txt`.
fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries: Vec<Entry> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let mut words = line.split_whitespace();
        let Some(name) = words.next() else { continue };
        let package = words.next().unwrap_or(name);
        if words.next().is_some() {
            return Err(format!(
                "line {}: expected `<name>` or `<name> <package>`",
                n + 1
            ));
        }
        let label = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !label(name) {
            return Err(format!(
                "line {}: {name:?} is not a module name (a-z, 0-9, '-')",
                n + 1
            ));
        }
        if entries.iter().any(|e| e.name == name) {
            return Err(format!("line {}: {name} is listed twice", n + 1));
        }
        entries.push(Entry {
            name: name.to_string(),
            package: package.to_string(),
        });
    }
    Ok(entries)
}

/// This build's target directory, from `OUT_DIR` (`<dir>[/<triple>]/<profile>/build/<pkg>/out`).
fn target_dir(out_dir: &Path, triple: &str) -> PathBuf {
    let profile_parent = out_dir.ancestors().nth(4).unwrap_or(out_dir);
    if profile_parent.file_name().is_some_and(|n| n == triple) {
        profile_parent
            .parent()
            .unwrap_or(profile_parent)
            .to_path_buf()
    } else {
        profile_parent.to_path_buf()
    }
}

/// Rebuilds when the modules' sources or the WIT change: the modules workspace's manifest,
/// lock file and list, and every member directory but the test modules.
fn watch(modules: &Path, wit: &Path) -> Result<(), String> {
    for file in ["Cargo.toml", "Cargo.lock", "builtin.txt"] {
        println!("cargo:rerun-if-changed={}", modules.join(file).display());
    }
    println!("cargo:rerun-if-changed={}", wit.display());
    let dir = std::fs::read_dir(modules).map_err(|e| format!("{}: {e}", modules.display()))?;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.path().is_dir() && !name.starts_with('.') && name != "target" && name != "tests" {
            println!("cargo:rerun-if-changed={}", entry.path().display());
        }
    }
    Ok(())
}
