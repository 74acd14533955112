//! Unpacks the built-in modules' precompiled artifacts into the data dir, where the sandbox
//! maps them (`Artifact::PrecompiledFile`).
//!
//! The binary carries them compressed; unpacked once, they live in files whose pages belong
//! to the page cache (shared, and dropped under memory pressure) instead of kmicro's heap.
//! A file is written under a temporary name, synced and renamed, and its digest is checked
//! each time it is used, so a torn or damaged file is rewritten, never loaded.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use kmicro_builtin_modules::BuiltinModule;

/// The file of `builtin`'s artifact in `dir`, written there first if it is missing or does
/// not match the embedded artifact. Older files of the same module are removed.
pub fn builtin_artifact(dir: &Path, builtin: &BuiltinModule) -> std::io::Result<PathBuf> {
    let hex = builtin
        .artifact_digest
        .strip_prefix("sha256:")
        .unwrap_or(builtin.artifact_digest);
    let file_name = format!("{}-{}.cwasm", builtin.name, &hex[..hex.len().min(16)]);
    let path = dir.join(&file_name);
    if path.exists() && sha256_of_file(&path)? == builtin.artifact_digest {
        return Ok(path);
    }
    std::fs::create_dir_all(dir)?;
    let bytes = builtin.artifact()?;
    let temporary = dir.join(format!(".{file_name}.tmp"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)?;
    tracing::info!(module = builtin.name, path = %path.display(), bytes = bytes.len(), "unpacked the built-in module");
    remove_older(dir, builtin.name, &file_name)?;
    Ok(path)
}

/// `sha256:<hex>` of a file's contents, read in pieces.
fn sha256_of_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        context.update(&buffer[..read]);
    }
    let hex: String = context
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("sha256:{hex}"))
}

/// Removes `<name>-*.cwasm` files in `dir` other than `keep` (artifacts of earlier binaries).
fn remove_older(dir: &Path, name: &str, keep: &str) -> std::io::Result<()> {
    let prefix = format!("{name}-");
    for entry in std::fs::read_dir(dir)? {
        let file_name = entry?.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let older = file_name.starts_with(&prefix)
            && file_name.ends_with(".cwasm")
            && file_name != keep
            && !file_name[prefix.len()..].contains('-');
        if older {
            std::fs::remove_file(dir.join(file_name))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_builtin() -> &'static BuiltinModule {
        &kmicro_builtin_modules::all()[0]
    }

    #[test]
    fn unpacks_once_and_rewrites_a_damaged_file() {
        let dir = tempfile::tempdir().unwrap();
        let builtin = any_builtin();
        let path = builtin_artifact(dir.path(), builtin).unwrap();
        assert_eq!(sha256_of_file(&path).unwrap(), builtin.artifact_digest);
        let written = std::fs::metadata(&path).unwrap().modified().unwrap();

        // Unchanged: used as it is.
        assert_eq!(builtin_artifact(dir.path(), builtin).unwrap(), path);
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            written
        );

        // Damaged (a torn write, a bad sector): rewritten.
        std::fs::write(&path, b"not an artifact").unwrap();
        assert_eq!(builtin_artifact(dir.path(), builtin).unwrap(), path);
        assert_eq!(sha256_of_file(&path).unwrap(), builtin.artifact_digest);
    }

    #[test]
    fn removes_the_artifacts_of_earlier_binaries_only() {
        let dir = tempfile::tempdir().unwrap();
        let builtin = any_builtin();
        let older = dir
            .path()
            .join(format!("{}-0123456789abcdef.cwasm", builtin.name));
        let other = dir.path().join("unrelated-0123456789abcdef.cwasm");
        std::fs::write(&older, b"old").unwrap();
        std::fs::write(&other, b"other").unwrap();
        let path = builtin_artifact(dir.path(), builtin).unwrap();
        assert!(path.exists());
        assert!(!older.exists());
        assert!(other.exists());
    }
}
