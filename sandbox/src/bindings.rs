//! The generated host bindings of the `kmicro:module` world (`sandbox/wit/module.wit`).
//!
//! The `api` imports are async (they await the kernel); every import may trap (a module out
//! of CPU budget is stopped at its next host call).

wasmtime::component::bindgen!({
    path: "wit",
    world: "module",
    imports: {
        "kmicro:module/api": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});
