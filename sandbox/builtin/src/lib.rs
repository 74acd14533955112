//! kmicro's built-in control-plane modules, embedded in the binary.
//!
//! The build script builds the modules listed in `modules/builtin.txt` (a nested cargo for
//! `wasm32-wasip2`), precompiles each for the target this crate is built for (native code on
//! x86_64 and aarch64, Pulley bytecode on armv7) with `kmicro_sandbox::precompile`, and
//! embeds both forms. The kernel loads a built-in as
//! `Artifact::Precompiled(module.artifact)`: no compiler runs on the board.

/// One built-in module.
#[derive(Debug)]
pub struct BuiltinModule {
    /// The module's name (its line in `modules/builtin.txt`).
    pub name: &'static str,
    /// The component, as built (`.wasm`).
    pub wasm: &'static [u8],
    /// The component precompiled for this binary's target (see [`TARGET`]).
    pub artifact: &'static [u8],
    /// `sha256:<hex>` of `wasm`.
    pub digest: &'static str,
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
