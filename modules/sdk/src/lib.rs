//! The kmicro module SDK: what a module author uses.
//!
//! `bindings` holds the generated bindings of the `kmicro:module` world
//! (`sandbox/wit/module.wit`). `export_module!` exports a type implementing
//! `bindings::exports::kmicro::module::handler::Guest` as the module's handler.

/// Bindings of the `kmicro:module` world, generated from `sandbox/wit/`.
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../sandbox/wit",
        world: "module",
        pub_export_macro: true,
        export_macro_name: "export_module",
        default_bindings_module: "kmicro_module_sdk::bindings",
    });
}

pub use bindings::export_module;
