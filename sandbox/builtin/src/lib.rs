//! kmicro's built-in control-plane modules, embedded in the binary.
//!
//! The build script builds the modules listed in `modules/builtin.txt` (a nested cargo for
//! `wasm32-wasip2`), precompiles each for the target this crate is built for (native code on
//! x86_64 and aarch64, Pulley bytecode on armv7) with `kmicro_sandbox::precompile`, and
//! embeds both forms zstd-compressed (level 19): compressed, the two built-ins take about a
//! sixth of the space (on armv7, about 2.6 MB instead of 15.7 MB; gzip took 3.6 MB). They are
//! decompressed with `ruzstd`, the pure-Rust decoder the image layers need anyway. The kernel unpacks a built-in's artifact
//! into its data dir once and maps it from there
//! (`Artifact::PrecompiledFile`): no compiler runs on the board, and the code lives in the
//! page cache rather than in kmicro's own memory.

use std::io::Read as _;

/// One built-in module.
#[derive(Debug)]
pub struct BuiltinModule {
    /// The module's name (its line in `modules/builtin.txt`).
    pub name: &'static str,
    wasm_zst: &'static [u8],
    artifact_zst: &'static [u8],
    /// `sha256:<hex>` of the component (`.wasm`, as built).
    pub digest: &'static str,
    /// `sha256:<hex>` of the artifact precompiled for this binary's target.
    pub artifact_digest: &'static str,
    artifact_len: usize,
}

impl BuiltinModule {
    /// The component, as built (`.wasm`).
    pub fn wasm(&self) -> std::io::Result<Vec<u8>> {
        unzstd(self.wasm_zst, 0)
    }

    /// The component precompiled for this binary's target (see [`TARGET`]).
    pub fn artifact(&self) -> std::io::Result<Vec<u8>> {
        unzstd(self.artifact_zst, self.artifact_len)
    }
}

fn unzstd(compressed: &[u8], size_hint: usize) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(size_hint);
    ruzstd::decoding::StreamingDecoder::new(compressed)
        .map_err(std::io::Error::other)?
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

/// Every built-in module, in the order of `modules/builtin.txt`.
pub fn all() -> &'static [BuiltinModule] {
    ALL
}

/// The built-in module `name`.
pub fn get(name: &str) -> Option<&'static BuiltinModule> {
    ALL.iter().find(|m| m.name == name)
}
