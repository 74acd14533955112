//! The embedded modules are those `modules/builtin.txt` lists, intact, and load into the
//! sandbox from their precompiled artifacts.

use std::sync::Arc;

use kmicro_sandbox::{
    ApiCall, ApiError, Artifact, HostApi, Limits, ListOptions, ModuleSpec, ResourceRef, Sandbox,
    SandboxSettings, Target, WatchStream,
};

/// An API with nothing in it: lists are empty, reads are 404, writes answer their body,
/// watches never send.
struct EmptyApi;

#[async_trait::async_trait]
impl HostApi for EmptyApi {
    async fn call(&self, _module: &str, call: ApiCall) -> Result<String, ApiError> {
        match call {
            ApiCall::List { .. } => Ok(r#"{"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}"#.into()),
            ApiCall::Get { name, .. } | ApiCall::Delete { name, .. } => Err(ApiError::new(404, "NotFound", format!("{name} not found"))),
            ApiCall::Create { body, .. } | ApiCall::CreateSubresource { body, .. } | ApiCall::Update { body, .. } | ApiCall::Patch { body, .. } => {
                Ok(body)
            }
        }
    }

    async fn watch(
        &self,
        _: &str,
        _: &ResourceRef,
        _: &ListOptions,
        _: &str,
    ) -> Result<WatchStream, ApiError> {
        Ok(Box::pin(futures::stream::pending()))
    }
}

fn listed() -> Vec<String> {
    let list = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../modules/builtin.txt"
    ))
    .unwrap();
    list.lines()
        .filter_map(|l| {
            l.split('#')
                .next()
                .and_then(|l| l.split_whitespace().next())
                .map(String::from)
        })
        .collect()
}

#[test]
fn the_embedded_modules_are_the_listed_ones_intact() {
    let names: Vec<_> = kmicro_builtin_modules::all()
        .iter()
        .map(|m| m.name.to_string())
        .collect();
    assert_eq!(names, listed());
    assert_eq!(kmicro_builtin_modules::TARGET, Target::native().triple());
    for module in kmicro_builtin_modules::all() {
        let wasm = module.wasm().unwrap();
        let artifact = module.artifact().unwrap();
        assert_eq!(module.digest, sha256(&wasm), "{}", module.name);
        assert_eq!(module.artifact_digest, sha256(&artifact), "{}", module.name);
        assert!(wasm.starts_with(b"\0asm"), "{} is a component", module.name);
        assert!(
            artifact.starts_with(b"\x7fELF"),
            "{}'s artifact is wasmtime's ELF",
            module.name
        );
        assert!(kmicro_builtin_modules::get(module.name).is_some());
    }
}

fn sha256(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_embedded_artifact_loads() {
    let sandbox = Sandbox::new(Arc::new(EmptyApi), SandboxSettings::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for module in kmicro_builtin_modules::all() {
        let path = dir.path().join(format!("{}.cwasm", module.name));
        std::fs::write(&path, module.artifact().unwrap()).unwrap();
        let spec = ModuleSpec {
            name: module.name.into(),
            artifact: Artifact::PrecompiledFile {
                path,
                digest: module.artifact_digest.into(),
            },
            config: "{}".into(),
            limits: Limits::default(),
            permissions: None,
        };
        // Deserialized, linked, instantiated and described (an error otherwise); `init` may
        // want a real API and back off here.
        sandbox.load(spec).await.unwrap_or_else(|e| panic!("{e}"));
    }
}
