//! Records the target triple this crate is compiled for, so `Target::native()` knows what
//! the running binary is (build scripts alone see cargo's `TARGET`).

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=KMICRO_SANDBOX_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=wit");
}
