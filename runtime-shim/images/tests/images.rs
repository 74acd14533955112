//! kmicro-images against real parts: umoci-built busybox images, a private docker-registry on
//! loopback, skopeo pushes and archives.

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use kmicro_images::{
    Compression, DOCKER_CONFIG_JSON_TYPE, Digest, Error, ImageStore, LayerProgress, OCI_INDEX,
    Platform, PullPolicy, PullSecrets, Puller, RegistriesConfig,
};
use support::{Registry, files_in, layout, layout_blob, layout_manifest, run};

fn new_store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path().join("images-store")).unwrap();
    (dir, store)
}

fn puller(store: &ImageStore) -> Puller {
    Puller::new(store.clone(), RegistriesConfig::default())
}

fn registries(yaml: &str) -> RegistriesConfig {
    RegistriesConfig::parse(yaml, Path::new("/test/registries.yaml")).unwrap()
}

/// Every blob of every image is present and hashes to its name; no temporary file is left.
fn assert_store_consistent(store: &ImageStore) {
    for record in store.list().unwrap() {
        for digest in record.blobs() {
            let bytes = std::fs::read(store.blob_path(digest))
                .unwrap_or_else(|e| panic!("blob {digest} of {:?}: {e}", record.names));
            assert_eq!(Digest::of(&bytes), *digest, "blob {digest} damaged");
        }
    }
    assert_eq!(files_in(&store.root().join("tmp")), Vec::<String>::new());
}

fn gunzip_digest(path: &Path) -> Digest {
    let mut decoder = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
    let mut bytes = Vec::new();
    decoder.read_to_end(&mut bytes).unwrap();
    Digest::of(&bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_by_tag_then_by_digest() {
    let registry = Registry::start();
    registry.push("base", "busybox:latest");
    let (_dir, store) = new_store();
    let seen: Arc<Mutex<Vec<LayerProgress>>> = Arc::default();
    let seen2 = seen.clone();
    let progress = move |p: &LayerProgress| seen2.lock().unwrap().push(p.clone());

    let image = format!("{}/busybox", registry.host);
    let outcome = puller(&store)
        .pull(&image, &PullSecrets::new(), Some(&progress))
        .await
        .unwrap();
    let (manifest_digest, _) = layout_manifest("base");
    assert_eq!(outcome.image.manifest_digest, manifest_digest);
    assert_eq!(
        outcome.image.names,
        [format!("{}/busybox:latest", registry.host)]
    );
    assert_eq!(outcome.endpoint, format!("http://{}", registry.host));
    assert!(outcome.pulled_bytes > 1_000_000, "{}", outcome.pulled_bytes);
    assert_eq!(outcome.image_size(), outcome.image.size);
    let message = outcome.pulled_message("busybox", outcome.duration);
    assert!(
        message.starts_with("Successfully pulled image \"busybox\" in "),
        "{message}"
    );
    assert!(
        message.ends_with(&format!("Image size: {} bytes.", outcome.image.size)),
        "{message}"
    );

    let layer = &outcome.image.layers[0];
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|p| p.digest == layer.digest && p.done == 0 && p.total == layer.size)
    );
    assert!(
        seen.iter()
            .any(|p| p.digest == layer.digest && p.done == layer.size && !p.cached)
    );

    // The runtime's view: config and layers.
    let runtime = store.runtime_image(&image).unwrap();
    assert_eq!(runtime.config.cmd, ["sh"]);
    assert!(runtime.config.env.contains(&"KMICRO=1".to_owned()));
    assert_eq!(runtime.config.working_dir.as_deref(), Some("/tmp"));
    assert_eq!(runtime.layers.len(), 1);
    assert_eq!(runtime.layers[0].compression, Compression::Gzip);
    assert_eq!(
        gunzip_digest(&runtime.layers[0].path),
        runtime.layers[0].diff_id
    );
    assert_store_consistent(&store);

    // Again by digest: only the manifest is fetched, the same image gains a repo digest.
    let by_digest = format!("{}/busybox@{manifest_digest}", registry.host);
    let again = puller(&store)
        .pull(&by_digest, &PullSecrets::new(), None)
        .await
        .unwrap();
    assert_eq!(again.image.manifest_digest, manifest_digest);
    assert!(again.pulled_bytes < 1000, "{}", again.pulled_bytes);
    assert_eq!(store.list().unwrap().len(), 1);
    assert!(store.find(&by_digest).unwrap().is_some());
    assert!(store.find(manifest_digest.as_str()).unwrap().is_some());
    assert!(
        store
            .find(&again.image.config_digest.hex()[..12])
            .unwrap()
            .is_some()
    );

    // A wrong digest is refused by the registry or by the check, and names the digest.
    let wrong = Digest::of(b"nothing");
    let err = puller(&store)
        .pull(
            &format!("{}/busybox@{wrong}", registry.host),
            &PullSecrets::new(),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains(wrong.as_str()), "{err}");

    // IfNotPresent finds it; Never without it fails.
    let present = puller(&store)
        .ensure(&image, PullPolicy::IfNotPresent, &PullSecrets::new(), None)
        .await
        .unwrap();
    assert!(matches!(present, kmicro_images::Ensured::Present(_)));
    let err = puller(&store)
        .ensure(
            &format!("{}/other:1", registry.host),
            PullPolicy::Never,
            &PullSecrets::new(),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NeverPull { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_arch_index_resolves_for_the_platform() {
    let registry = Registry::start();
    registry.push("base", "multi:amd64");
    registry.push("armv7", "multi:armv7");
    let (amd64, amd64_size) = layout_manifest("base");
    let (armv7, armv7_size) = layout_manifest("armv7");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": armv7, "size": armv7_size,
             "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd64, "size": amd64_size,
             "platform": {"os": "linux", "architecture": "amd64"}},
        ]
    });
    let index_bytes = serde_json::to_vec(&index).unwrap();
    registry.put_manifest("multi", "latest", OCI_INDEX, &index_bytes);
    let index_digest = Digest::of(&index_bytes);
    let image = format!("{}/multi:latest", registry.host);

    let here = Platform::current();
    if here.architecture == "amd64" {
        let (_dir, store) = new_store();
        let outcome = puller(&store)
            .pull(&image, &PullSecrets::new(), None)
            .await
            .unwrap();
        assert_eq!(outcome.image.manifest_digest, amd64);
        assert_eq!(
            outcome.image.index_digests,
            std::slice::from_ref(&index_digest)
        );
        assert_eq!(
            outcome.image.repo_digests,
            [format!("{}/multi@{index_digest}", registry.host)]
        );
    }

    let (_dir, store) = new_store();
    let arm = puller(&store).with_platform(Platform::parse("linux/arm/v7").unwrap());
    let outcome = arm.pull(&image, &PullSecrets::new(), None).await.unwrap();
    assert_eq!(outcome.image.manifest_digest, armv7);
    assert_eq!(outcome.image.platform.architecture, "arm");
    // By the index's digest, the store finds the image pulled through it.
    assert!(
        store
            .find(&format!("{}/multi@{index_digest}", registry.host))
            .unwrap()
            .is_some()
    );

    let arm64 = puller(&store).with_platform(Platform::parse("linux/arm64").unwrap());
    let err = arm64
        .pull(&image, &PullSecrets::new(), None)
        .await
        .unwrap_err();
    let text = err.to_string();
    eprintln!("arm64: {text}");
    assert!(matches!(err, Error::NoMatchingPlatform { .. }), "{text}");
    assert!(
        text.contains("linux/arm64") && text.contains("linux/arm/v7"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth() {
    let registry = Registry::start_with_auth("kmicro", "s3cret");
    registry.push("base", "private/busybox:1");
    let image = format!("{}/private/busybox:1", registry.host);
    let (_dir, store) = new_store();

    let err = puller(&store)
        .pull(&image, &PullSecrets::new(), None)
        .await
        .unwrap_err();
    eprintln!("without credentials: {err}");
    assert!(err.is_unauthorized(), "{err}");
    assert!(err.to_string().contains("401"), "{err}");
    assert!(store.list().unwrap().is_empty());

    let wrong = registries(&format!(
        "configs:\n  \"{}\":\n    auth:\n      username: kmicro\n      password: wrong\n",
        registry.host
    ));
    let err = Puller::new(store.clone(), wrong)
        .pull(&image, &PullSecrets::new(), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");

    let right = registries(&format!(
        "configs:\n  \"{}\":\n    auth:\n      username: kmicro\n      password: s3cret\n",
        registry.host
    ));
    Puller::new(store.clone(), right)
        .pull(&image, &PullSecrets::new(), None)
        .await
        .unwrap();
    assert_eq!(store.list().unwrap().len(), 1);

    // An imagePullSecret: a wrong credential for a more specific key is tried first, then the
    // right one.
    let (_dir2, store2) = new_store();
    let json = format!(
        r#"{{"auths":{{"{host}":{{"username":"kmicro","password":"s3cret"}},"{host}/private":{{"username":"kmicro","password":"nope"}}}}}}"#,
        host = registry.host
    );
    let mut secrets = PullSecrets::new();
    secrets
        .add_secret(
            DOCKER_CONFIG_JSON_TYPE,
            &BTreeMap::from([(".dockerconfigjson".to_owned(), json.into_bytes())]),
            "secret default/regcred",
        )
        .unwrap();
    puller(&store2).pull(&image, &secrets, None).await.unwrap();
    assert_store_consistent(&store2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_endpoint_with_rewrite() {
    let mirror = Registry::start();
    mirror.push("base", "cache/busybox:latest");
    let dead = format!("127.0.0.1:{}", support::free_port());
    // A registry that does not exist: only the mirrors are asked (the first one is down).
    let config = registries(&format!(
        "mirrors:\n  registry.invalid:\n    endpoint:\n      - http://{dead}\n      - http://{}\n    rewrite:\n      \"^library/(.*)\": \"cache/$1\"\n",
        mirror.host
    ));
    let (_dir, store) = new_store();
    let outcome = Puller::new(store.clone(), config)
        .pull(
            "registry.invalid/library/busybox",
            &PullSecrets::new(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(outcome.endpoint, format!("http://{}", mirror.host));
    assert_eq!(
        outcome.image.names,
        ["registry.invalid/library/busybox:latest"]
    );
    assert_eq!(outcome.image.manifest_digest, layout_manifest("base").0);
    assert!(
        store
            .runtime_image("registry.invalid/library/busybox")
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_blob_is_refused_and_leaves_nothing() {
    let registry = Registry::start();
    registry.push("base", "busybox:latest");
    let (manifest_digest, _) = layout_manifest("base");
    let manifest: serde_json::Value =
        serde_json::from_slice(&layout_blob(&manifest_digest)).unwrap();
    let layer = Digest::parse(manifest["layers"][0]["digest"].as_str().unwrap()).unwrap();
    let data = registry.blob_data(&layer);
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();

    let (_dir, store) = new_store();
    let err = puller(&store)
        .pull(
            &format!("{}/busybox", registry.host),
            &PullSecrets::new(),
            None,
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    eprintln!("tampered layer: {text}");
    assert!(matches!(err, Error::DigestMismatch { .. }), "{text}");
    assert!(text.contains(layer.as_str()), "{text}");
    assert!(!store.blob_path(&layer).exists());
    assert!(store.list().unwrap().is_empty());
    assert_eq!(files_in(&store.root().join("tmp")), Vec::<String>::new());
}

#[test]
fn import_oci_and_docker_archives() {
    let work = tempfile::tempdir().unwrap();
    let images_dir = work.path().join("agent-images");
    std::fs::create_dir_all(&images_dir).unwrap();
    let source = |tag: &str| format!("oci:{}:{tag}", layout().display());
    let oci_tar = work.path().join("busybox-oci.tar");
    run(Command::new("skopeo")
        .args(["copy", "--quiet", &source("base")])
        .arg(format!(
            "oci-archive:{}:docker.io/library/busybox:oci",
            oci_tar.display()
        )));
    support::gzip_file(&oci_tar, &images_dir.join("busybox-oci.tar.gz"));
    let docker_tar = images_dir.join("busybox-docker.tar");
    run(Command::new("skopeo")
        .args(["copy", "--quiet", &source("extra")])
        .arg(format!(
            "docker-archive:{}:busybox:docker",
            docker_tar.display()
        )));
    run(Command::new("zstd")
        .args(["-q", "-f", "-o"])
        .arg(images_dir.join("busybox-docker.tar.zst"))
        .arg(&docker_tar));
    std::fs::rename(&docker_tar, work.path().join("busybox-docker.tar")).unwrap();
    std::fs::write(images_dir.join("notes.txt"), "not an image").unwrap();

    let (_dir, store) = new_store();
    let report = store.import_dir(&images_dir).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.imported.len(), 2);

    let oci = store.runtime_image("busybox:oci").unwrap();
    assert_eq!(oci.manifest_digest, layout_manifest("base").0);
    assert_eq!(oci.config.cmd, ["sh"]);
    assert_eq!(gunzip_digest(&oci.layers[0].path), oci.layers[0].diff_id);

    let docker = store
        .runtime_image("docker.io/library/busybox:docker")
        .unwrap();
    assert_eq!(docker.layers.len(), 2);
    for layer in &docker.layers {
        // docker-archive layers are plain tars: their digest is their diff_id.
        assert_eq!(layer.compression, Compression::None);
        assert_eq!(layer.digest, layer.diff_id);
    }
    // The same busybox layer, compressed in one image and not in the other: the same diff_id.
    assert_eq!(docker.layers[0].diff_id, oci.layers[0].diff_id);
    for record in store.list().unwrap() {
        assert!(record.pinned, "imports are pinned");
    }
    assert_store_consistent(&store);

    // Imported before: skipped; the archive with the same name changed: imported again.
    let again = store.import_dir(&images_dir).unwrap();
    assert_eq!(again.skipped.len(), 2);
    assert!(again.imported.is_empty());

    // The uncompressed archive straight, too; an archive that is not one fails clearly.
    let records = store
        .import_archive(&work.path().join("busybox-docker.tar"))
        .unwrap();
    assert_eq!(records[0].manifest_digest, docker.manifest_digest);
    let err = store
        .import_archive(&images_dir.join("notes.txt"))
        .unwrap_err();
    assert!(err.to_string().contains("notes.txt"), "{err}");

    // Pinned images survive GC.
    let report = store.gc::<&str>(&[]).unwrap();
    assert!(report.removed_images.is_empty());
    assert_eq!(store.list().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_frees_unused_blobs_but_keeps_shared_layers() {
    let registry = Registry::start();
    registry.push("base", "busybox:base");
    registry.push("extra", "busybox:extra");
    let (_dir, store) = new_store();
    let base_ref = format!("{}/busybox:base", registry.host);
    let extra_ref = format!("{}/busybox:extra", registry.host);
    let base = puller(&store)
        .pull(&base_ref, &PullSecrets::new(), None)
        .await
        .unwrap()
        .image;
    let extra = puller(&store)
        .pull(&extra_ref, &PullSecrets::new(), None)
        .await
        .unwrap();
    // The shared layer was not downloaded twice.
    assert!(
        extra.pulled_bytes < base.size,
        "{} vs {}",
        extra.pulled_bytes,
        base.size
    );
    let extra = extra.image;
    let shared = &base.layers[0].digest;
    assert_eq!(&extra.layers[0].digest, shared);

    let report = store.gc(&[extra_ref.as_str()]).unwrap();
    assert_eq!(report.removed_images, std::slice::from_ref(&base_ref));
    assert_eq!(report.removed_blobs, 2, "base's manifest and config");
    let expected_freed = base.size - base.layers[0].size;
    assert_eq!(report.freed_bytes, expected_freed);
    assert!(store.blob_path(shared).exists());
    assert!(!store.blob_path(&base.config_digest).exists());
    assert!(store.runtime_image(&extra_ref).is_ok());
    assert_store_consistent(&store);

    // Removing the last name removes the image; its blobs go at once.
    let removed = store.remove(&extra_ref).unwrap();
    assert_eq!(
        removed.deleted,
        std::slice::from_ref(&extra.manifest_digest)
    );
    assert_eq!(removed.freed_bytes, extra.size);
    assert_eq!(
        files_in(&store.root().join("blobs/sha256")),
        Vec::<String>::new()
    );
    assert!(matches!(
        store.remove(&extra_ref),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn concurrent_pulls_from_threads_do_not_corrupt_the_store() {
    let registry = Registry::start();
    registry.push("base", "busybox:base");
    registry.push("extra", "busybox:extra");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let refs = [
        format!("{}/busybox:base", registry.host),
        format!("{}/busybox:extra", registry.host),
    ];
    std::thread::scope(|scope| {
        for i in 0..6 {
            let root = root.clone();
            let image = refs[i % 2].clone();
            let refs = refs.clone();
            scope.spawn(move || {
                // Each thread: its own store handle (its own lock files) and runtime, as a
                // second process would have.
                let store = ImageStore::open(&root).unwrap();
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    puller(&store)
                        .pull(&image, &PullSecrets::new(), None)
                        .await
                        .unwrap();
                });
                if i == 5 {
                    store.gc(&refs).unwrap();
                }
            });
        }
    });
    let store = ImageStore::open(&root).unwrap();
    let images = store.list().unwrap();
    assert_eq!(images.len(), 2, "{images:?}");
    assert_store_consistent(&store);
    for image in &refs {
        store.runtime_image(image).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeing_space_removes_the_least_recently_used_images_first() {
    let registry = Registry::start();
    registry.push("base", "busybox:base");
    registry.push("extra", "busybox:extra");
    let (_dir, store) = new_store();
    let base_ref = format!("{}/busybox:base", registry.host);
    let extra_ref = format!("{}/busybox:extra", registry.host);
    for reference in [&base_ref, &extra_ref] {
        puller(&store)
            .pull(reference, &PullSecrets::new(), None)
            .await
            .unwrap();
    }
    // `base` is used a second later than `extra`: `extra` is now the least recently used.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let base = store.runtime_image(&base_ref).unwrap();

    // Images used within the minimum age stay, whatever the pressure.
    let report = store.free_space::<&str>(&[], u64::MAX - 1, 3600).unwrap();
    assert!(report.removed_images.is_empty(), "{report:?}");
    assert_eq!(store.list().unwrap().len(), 2);

    // One byte wanted: only the least recently used image goes.
    let report = store.free_space::<&str>(&[], 1, 0).unwrap();
    assert_eq!(report.removed_images, std::slice::from_ref(&extra_ref));
    assert!(report.freed_bytes > 0);
    assert!(store.runtime_image(&base_ref).is_ok());

    // An image in use stays even when more is wanted than it could free.
    let report = store
        .free_space(&[base_ref.as_str()], u64::MAX - 1, 0)
        .unwrap();
    assert!(report.removed_images.is_empty(), "{report:?}");
    assert_eq!(store.runtime_image(&base_ref).unwrap().id, base.id);
    assert_store_consistent(&store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_registries_are_verified_against_the_configured_ca() {
    let registry = Registry::start_tls();
    let ca = registry.ca_pem.clone().unwrap();
    registry.push("base", "secure/busybox:1");
    let image = format!("{}/secure/busybox:1", registry.host);
    let (_dir, store) = new_store();

    // An https endpoint with the system roots only: the registry's own CA is not among them.
    let system_roots = registries(&format!(
        "mirrors:\n  \"{host}\":\n    endpoint: [\"https://{host}\"]\n",
        host = registry.host
    ));
    let err = Puller::new(store.clone(), system_roots)
        .pull(&image, &PullSecrets::new(), None)
        .await
        .unwrap_err();
    eprintln!("system roots: {err:#}");
    let chain = format!("{err:?}").to_lowercase();
    assert!(
        chain.contains("certificate") || chain.contains("unknownissuer"),
        "{err:?}"
    );
    assert!(store.list().unwrap().is_empty());

    // Another CA's file: refused as well.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = support::tls_files(other.path());
    let wrong_ca = registries(&format!(
        "configs:\n  \"{}\":\n    tls:\n      ca_file: {}\n",
        registry.host,
        other_ca.display()
    ));
    Puller::new(store.clone(), wrong_ca)
        .pull(&image, &PullSecrets::new(), None)
        .await
        .unwrap_err();
    assert!(store.list().unwrap().is_empty());

    // The registry's CA in `tls.ca_file`: a loopback host with a `tls` config is HTTPS.
    let right_ca = registries(&format!(
        "configs:\n  \"{}\":\n    tls:\n      ca_file: {}\n",
        registry.host,
        ca.display()
    ));
    Puller::new(store.clone(), right_ca)
        .pull(&image, &PullSecrets::new(), None)
        .await
        .unwrap();
    assert_eq!(store.list().unwrap().len(), 1);

    // `insecure_skip_verify`: HTTPS without verification.
    let (_dir2, store2) = new_store();
    let skip = registries(&format!(
        "configs:\n  \"{}\":\n    tls:\n      insecure_skip_verify: true\n",
        registry.host
    ));
    Puller::new(store2.clone(), skip)
        .pull(&image, &PullSecrets::new(), None)
        .await
        .unwrap();
    assert_store_consistent(&store2);
}
