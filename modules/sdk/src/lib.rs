//! The kmicro module SDK: what a module author uses.
//!
//! A module is a WebAssembly component the kmicro kernel loads, limits and hot-swaps. It knows
//! the cluster only through the Kubernetes API (as user `system:module:<name>`, limited to the
//! permissions it declares) and keeps no connection of its own: the kernel owns the watches
//! and timers and calls the module with what happened.
//!
//! With this SDK a module is a type implementing [`Module`]:
//! - [`Module::describe`] declares its version and permissions;
//! - [`Module::init`] reads its config and registers watches on the [`Setup`], each one giving
//!   a typed [`Cache`] kept current from the watch, and a mapping from changed objects to the
//!   [`Key`]s to reconcile;
//! - [`Module::reconcile`] is called for each queued key once every watch has delivered its
//!   initial list, and answers an [`Action`] (done, or again after a delay).
//!
//! [`module!`] exports the type as the component's handler. [`Api`] is the typed client over
//! `k8s-openapi` types; [`dynamic`] the untyped client and watches (any resource, named at
//! run time); [`log`] writes into the kernel's logs.

pub mod api;
pub mod cache;
pub mod dynamic;
pub mod error;
pub mod events;
pub mod log;
pub mod resource;
pub mod runtime;
pub mod selector;
pub mod time;

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

pub use api::{Api, DeleteParams, ListParams, PatchType, WriteParams};
pub use cache::Cache;
pub use dynamic::{ApiResource, DynamicApi, DynamicObject};
pub use error::{ApiError, Error};
pub use k8s_openapi;
pub use resource::{ObjectRef, ResourceExt};
pub use runtime::{Action, Descriptor, Key, Module, Rule, Setup};
pub use serde_json;

/// Exports `$ty` (a type implementing [`Module`]) as the component's handler. Only when
/// building for wasm: on the host (unit tests of a module's logic) there is nothing to export
/// to, and the export glue would not link.
#[macro_export]
macro_rules! module {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        type __KmicroHostedModule = $crate::runtime::Hosted<$ty>;
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export_module!(
            __KmicroHostedModule with_types_in $crate::bindings
        );
        // Off wasm, the module is still reachable (for dead-code analysis) through its handler.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = <$crate::runtime::Hosted<$ty> as $crate::bindings::exports::kmicro::module::handler::Guest>::init
                as fn(String) -> Result<(), String>;
        };
    };
}
