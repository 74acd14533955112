//! Pulls from registries with `oci-client`: endpoints from registries.yaml tried in order,
//! credentials from imagePullSecrets and registries.yaml, multi-arch indexes resolved for the
//! platform, every manifest, config and layer digest checked before it enters the store.

use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::assemble::{self, Naming};
use crate::credentials::{Credential, PullSecrets};
use crate::digest::{Digest, Hasher};
use crate::error::Error;
use crate::manifest::{ACCEPTED_MANIFESTS, ConfigFile, Descriptor, Document};
use crate::platform::Platform;
use crate::reference::ImageRef;
use crate::registries::{PlannedEndpoint, RegistriesConfig};
use crate::store::{ImageRecord, ImageStore, blobs};

/// Progress of one layer (also the config), reported while pulling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerProgress {
    /// The blob.
    pub digest: Digest,
    /// Bytes received (or, when `cached`, its whole size).
    pub done: u64,
    /// Its size as the manifest declares.
    pub total: u64,
    /// Already in the store: nothing to download.
    pub cached: bool,
}

/// A progress callback: called with `done == 0` for every layer once the manifest is known
/// (so a bar can show the total), then as bytes arrive, and once more with `done == total`.
pub type ProgressFn<'a> = dyn Fn(&LayerProgress) + Send + Sync + 'a;

/// What a successful pull did.
#[derive(Clone, Debug)]
pub struct PullOutcome {
    /// The image as recorded.
    pub image: ImageRecord,
    /// The reference, normalised.
    pub reference: ImageRef,
    /// The endpoint it came from (`http://127.0.0.1:5000`).
    pub endpoint: String,
    /// Bytes downloaded (blobs already in the store cost nothing).
    pub pulled_bytes: u64,
    /// How long the pull took.
    pub duration: Duration,
}

impl PullOutcome {
    /// The image's size in bytes (manifest, config and compressed layers).
    pub fn image_size(&self) -> u64 {
        self.image.size
    }

    /// kubelet's `Pulled` event message for `image` as the pod names it: `Successfully pulled
    /// image "busybox" in 1.2s (1.2s including waiting). Image size: 2154496 bytes.`
    pub fn pulled_message(&self, image: &str, including_waiting: Duration) -> String {
        format!(
            "Successfully pulled image {image:?} in {} ({} including waiting). Image size: {} bytes.",
            go_duration(self.duration),
            go_duration(including_waiting.max(self.duration)),
            self.image_size()
        )
    }
}

/// A duration as Go prints it (`1.234s`, `350ms`).
fn go_duration(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        let text = format!("{:.3}", d.as_secs_f64());
        format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
    } else {
        let text = format!("{:.3}", d.as_secs_f64() * 1000.0);
        format!("{}ms", text.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// kubelet's image pull policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    /// Always ask the registry (blobs already present are not downloaded again).
    Always,
    /// Pull only when the image is absent.
    IfNotPresent,
    /// Never pull; an absent image is [`Error::NeverPull`].
    Never,
}

impl PullPolicy {
    /// Kubernetes' default for an image: `Always` for `:latest` or no tag (and no digest),
    /// else `IfNotPresent`.
    pub fn default_for(image: &str) -> Self {
        match ImageRef::parse(image) {
            Ok(r) if r.digest.is_none() && r.tag.as_deref() == Some("latest") => Self::Always,
            _ => Self::IfNotPresent,
        }
    }
}

/// What [`Puller::ensure`] found or did.
#[derive(Clone, Debug)]
pub enum Ensured {
    /// The image was present; nothing pulled.
    Present(ImageRecord),
    /// The image was pulled.
    Pulled(PullOutcome),
}

/// Pulls images into a store.
#[derive(Clone)]
pub struct Puller {
    store: ImageStore,
    registries: Arc<RegistriesConfig>,
    platform: Platform,
    concurrency: usize,
}

static CRYPTO_PROVIDER: Once = Once::new();

impl Puller {
    /// A puller for this machine's platform ([`Platform::current`]).
    pub fn new(store: ImageStore, registries: RegistriesConfig) -> Self {
        Self {
            store,
            registries: Arc::new(registries),
            platform: Platform::current(),
            concurrency: 3,
        }
    }

    /// Resolves multi-arch indexes for another platform (tests, or an emulated board).
    pub fn with_platform(mut self, platform: Platform) -> Self {
        self.platform = platform;
        self
    }

    /// The store pulled into.
    pub fn store(&self) -> &ImageStore {
        &self.store
    }

    /// The platform indexes are resolved for.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Makes sure `image` is present under `policy`, pulling when needed (kubelet's
    /// `EnsureImageExists`).
    pub async fn ensure(
        &self,
        image: &str,
        policy: PullPolicy,
        secrets: &PullSecrets,
        progress: Option<&ProgressFn<'_>>,
    ) -> Result<Ensured, Error> {
        let present = if policy == PullPolicy::Always {
            None
        } else {
            let store = self.store.clone();
            let image = image.to_owned();
            spawn_blocking(move || store.find(&image)).await?
        };
        match (present, policy) {
            (Some(record), _) => Ok(Ensured::Present(record)),
            (None, PullPolicy::Never) => Err(Error::NeverPull {
                reference: image.to_owned(),
            }),
            (None, _) => self
                .pull(image, secrets, progress)
                .await
                .map(Ensured::Pulled),
        }
    }

    /// Pulls `image` (`busybox`, `registry:5000/app:v1`, `app@sha256:…`): each endpoint of the
    /// plan in turn (mirrors, then the registry), with each matching credential in turn.
    /// A single failed endpoint's error is returned as is; several give
    /// [`Error::AllEndpointsFailed`].
    pub async fn pull(
        &self,
        image: &str,
        secrets: &PullSecrets,
        progress: Option<&ProgressFn<'_>>,
    ) -> Result<PullOutcome, Error> {
        let reference = ImageRef::parse(image)?;
        let started = Instant::now();
        let plan = self
            .registries
            .plan(&reference.registry, &reference.repository);
        let mut attempts = Vec::new();
        for planned in &plan {
            let credentials = self.credentials_for(planned, &reference, secrets);
            let count = credentials.len();
            for (i, credential) in credentials.into_iter().enumerate() {
                tracing::debug!(
                    image = %reference,
                    endpoint = %planned.endpoint.url(),
                    repository = %planned.repository,
                    "pulling"
                );
                match self
                    .pull_from(&reference, planned, credential, progress)
                    .await
                {
                    Ok((image, pulled_bytes)) => {
                        return Ok(PullOutcome {
                            image,
                            reference,
                            endpoint: planned.endpoint.url(),
                            pulled_bytes,
                            duration: started.elapsed(),
                        });
                    }
                    Err(err) if err.is_unauthorized() && i + 1 < count => {
                        tracing::debug!("credential refused, trying the next: {err}");
                    }
                    Err(err) => {
                        tracing::warn!(
                            "pull of {reference} from {}: {err}",
                            planned.endpoint.url()
                        );
                        attempts.push(err);
                        break;
                    }
                }
            }
        }
        if attempts.len() == 1 {
            Err(attempts.remove(0))
        } else {
            Err(Error::AllEndpointsFailed {
                reference: reference.to_string(),
                attempts,
            })
        }
    }

    /// Credentials to try at an endpoint, in order (`None` is anonymous): for the registry
    /// itself the pull secrets matching the image (kubelet's order) if any, else its
    /// registries.yaml auth, else none; for a mirror its registries.yaml auth, else none.
    fn credentials_for(
        &self,
        planned: &PlannedEndpoint,
        reference: &ImageRef,
        secrets: &PullSecrets,
    ) -> Vec<Option<Credential>> {
        if planned.is_registry {
            let from_secrets = secrets.lookup(reference);
            if !from_secrets.is_empty() {
                return from_secrets.into_iter().map(Some).collect();
            }
        }
        vec![
            self.registries
                .host_config(&planned.endpoint.host)
                .and_then(|c| c.auth.clone()),
        ]
    }

    fn client_for(&self, planned: &PlannedEndpoint) -> Result<Client, Error> {
        CRYPTO_PROVIDER.call_once(|| {
            // Fails only when another provider was installed first, which then serves.
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let host_config = self.registries.host_config(&planned.endpoint.host);
        let mut extra_root_certificates = Vec::new();
        if let Some(ca_file) = host_config.and_then(|c| c.ca_file.as_ref()) {
            let data = std::fs::read(ca_file).map_err(Error::io("reading ca_file", ca_file))?;
            extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let config = ClientConfig {
            protocol: if planned.endpoint.plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            accept_invalid_certificates: host_config.is_some_and(|c| c.insecure_skip_verify),
            extra_root_certificates,
            platform_resolver: None,
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(120)),
            user_agent: concat!("kmicro/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        Client::try_from(config).map_err(|e| Error::Registry {
            endpoint: planned.endpoint.url(),
            reference: planned.endpoint.host.clone(),
            message: format!("cannot build a client: {e}"),
        })
    }

    /// One attempt: one endpoint, one credential. Returns the record and the bytes downloaded.
    async fn pull_from(
        &self,
        reference: &ImageRef,
        planned: &PlannedEndpoint,
        credential: Option<Credential>,
        progress: Option<&ProgressFn<'_>>,
    ) -> Result<(ImageRecord, u64), Error> {
        let attempt = Attempt {
            client: self.client_for(planned)?,
            auth: match credential {
                None => RegistryAuth::Anonymous,
                Some(Credential::Basic { username, password }) => {
                    RegistryAuth::Basic(username, password)
                }
                Some(Credential::Token(token)) => RegistryAuth::Bearer(token),
            },
            planned: planned.clone(),
            reference: reference.clone(),
            store: self.store.clone(),
        };
        let store = self.store.clone();
        let _content = spawn_blocking(move || store.content_shared()).await?;

        // The manifest the reference names, then the platform's if it is an index.
        let top_ref = attempt.oci_reference(reference.tag.as_deref(), reference.digest.as_ref());
        let (top_bytes, top_digest) = attempt
            .manifest(&top_ref, reference.digest.as_ref())
            .await?;
        let mut pulled = top_bytes.len() as u64;
        let (manifest_bytes, manifest_digest, index_digest) = match Document::parse(
            &top_bytes,
            &top_digest,
        )? {
            Document::Manifest(_) => (top_bytes, top_digest, None),
            Document::Index(index) => {
                let chosen = index.choose(&self.platform, &reference.to_string())?;
                tracing::debug!(image = %reference, manifest = %chosen.digest, platform = %self.platform, "index resolved");
                let child_ref = attempt.oci_reference(None, Some(&chosen.digest));
                let (bytes, digest) = attempt.manifest(&child_ref, Some(&chosen.digest)).await?;
                pulled += bytes.len() as u64;
                (bytes, digest, Some(top_digest))
            }
        };
        let Document::Manifest(manifest) = Document::parse(&manifest_bytes, &manifest_digest)?
        else {
            return Err(Error::InvalidManifest {
                digest: manifest_digest,
                reason: "an index inside an index".to_owned(),
            });
        };
        for layer in &manifest.layers {
            crate::manifest::Compression::of_media_type(&layer.media_type).map_err(|_| {
                Error::UnsupportedMediaType {
                    what: format!("layer {} of {reference}", layer.digest),
                    media_type: layer.media_type.clone(),
                }
            })?;
        }

        // Store the manifest, then config and layers (missing ones only).
        {
            let store = self.store.clone();
            let digest = manifest_digest.clone();
            let bytes = manifest_bytes.clone();
            spawn_blocking(move || {
                let mut writer = store.blob_writer()?;
                writer.write(&bytes)?;
                writer.commit(Some(&digest), None, &format!("manifest {digest}"))
            })
            .await?;
        }
        if let Some(progress) = progress {
            for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
                progress(&LayerProgress {
                    digest: d.digest.clone(),
                    done: 0,
                    total: d.size,
                    cached: false,
                });
            }
        }
        pulled += attempt.blob(&manifest.config, "config", progress).await?;
        let config_bytes = {
            let path = self.store.blob_path(&manifest.config.digest);
            let digest = manifest.config.digest.clone();
            spawn_blocking(move || blobs::read_verified(&path, &digest)).await?
        };
        let config = ConfigFile::parse(&config_bytes, &manifest.config.digest)?;
        if index_digest.is_none() && self.platform.rank(&config.platform()).is_none() {
            tracing::warn!(image = %reference, "the image is for {}, not {}", config.platform(), self.platform);
        }
        // Owned descriptors: a closure over `&Descriptor` would make this future non-`Send`
        // (rustc cannot prove the borrow general enough, rust-lang/rust#110338).
        let attempt = &attempt;
        let layer_bytes: Vec<u64> = futures::stream::iter(manifest.layers.iter().cloned())
            .map(|layer| async move { attempt.blob(&layer, "layer", progress).await })
            .buffered(self.concurrency.max(1))
            .try_collect()
            .await?;
        pulled += layer_bytes.iter().sum::<u64>();

        let pinned_digest = index_digest
            .clone()
            .unwrap_or_else(|| manifest_digest.clone());
        let naming = Naming {
            names: reference.tagged_name().into_iter().collect(),
            repo_digests: vec![reference.with_digest_name(&pinned_digest)],
            index_digests: index_digest.into_iter().collect(),
            pinned: false,
        };
        let record = assemble::record(
            &manifest,
            &manifest_digest,
            manifest_bytes.len() as u64,
            &config,
            naming,
        )?;
        let store = self.store.clone();
        let record = spawn_blocking(move || store.commit(record)).await?;
        tracing::info!(image = %reference, manifest = %record.manifest_digest, bytes = pulled, "pulled");
        Ok((record, pulled))
    }
}

/// One endpoint with one credential.
struct Attempt {
    client: Client,
    auth: RegistryAuth,
    planned: PlannedEndpoint,
    reference: ImageRef,
    store: ImageStore,
}

impl Attempt {
    fn oci_reference(&self, tag: Option<&str>, digest: Option<&Digest>) -> Reference {
        let registry = self.reference.registry.clone();
        let repository = self.planned.repository.clone();
        let mut oci = match (tag, digest) {
            (_, Some(digest)) => Reference::with_digest(registry, repository, digest.to_string()),
            (Some(tag), None) => Reference::with_tag(registry, repository, tag.to_owned()),
            (None, None) => Reference::with_tag(registry, repository, "latest".to_owned()),
        };
        if !self.planned.is_registry {
            oci.set_mirror_registry(self.planned.endpoint.host.clone());
        }
        oci
    }

    fn error(&self, err: OciDistributionError) -> Error {
        let endpoint = self.planned.endpoint.url();
        let reference = self.reference.to_string();
        let unauthorized = |status: &str, message: String| Error::Unauthorized {
            status: status.to_owned(),
            endpoint: endpoint.clone(),
            reference: reference.clone(),
            message,
        };
        match err {
            OciDistributionError::UnauthorizedError { url } => unauthorized(
                "401 Unauthorized",
                format!("{url}: the registry refused the request (no or wrong credentials)"),
            ),
            OciDistributionError::AuthenticationFailure(reason) => unauthorized(
                "401 Unauthorized",
                format!("token request refused: {reason}"),
            ),
            OciDistributionError::ServerError {
                code: 403,
                url,
                message,
            } => unauthorized("403 Forbidden", format!("{url}: {message}")),
            OciDistributionError::RegistryError { envelope, url } => {
                let denied = envelope
                    .errors
                    .iter()
                    .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied));
                let message = envelope
                    .errors
                    .iter()
                    .map(|e| format!("{:?}: {}", e.code, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                if denied {
                    unauthorized("403 Forbidden", format!("{url}: {message}"))
                } else {
                    Error::Registry {
                        endpoint,
                        reference,
                        message: format!("{url}: {message}"),
                    }
                }
            }
            OciDistributionError::RequestError(e) => {
                let mut message = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    message.push_str(": ");
                    message.push_str(&s.to_string());
                    source = s.source();
                }
                Error::Registry {
                    endpoint,
                    reference,
                    message,
                }
            }
            other => Error::Registry {
                endpoint,
                reference,
                message: other.to_string(),
            },
        }
    }

    /// Fetches a manifest and checks its digest (against `expected`, else the registry's
    /// `Docker-Content-Digest` as oci-client checks it).
    async fn manifest(
        &self,
        oci: &Reference,
        expected: Option<&Digest>,
    ) -> Result<(Vec<u8>, Digest), Error> {
        let (bytes, _header_digest) = self
            .client
            .pull_manifest_raw(oci, &self.auth, ACCEPTED_MANIFESTS)
            .await
            .map_err(|e| match e {
                OciDistributionError::DigestError(d) => Error::Registry {
                    endpoint: self.planned.endpoint.url(),
                    reference: self.reference.to_string(),
                    message: format!("manifest digest check failed: {d}"),
                },
                other => self.error(other),
            })?;
        let actual = Digest::of(&bytes);
        if let Some(expected) = expected
            && *expected != actual
        {
            return Err(Error::DigestMismatch {
                what: format!(
                    "manifest of {} from {}",
                    self.reference,
                    self.planned.endpoint.url()
                ),
                expected: expected.clone(),
                actual,
            });
        }
        Ok((bytes.to_vec(), actual))
    }

    /// Downloads a blob unless present; returns the bytes downloaded.
    async fn blob(
        &self,
        descriptor: &Descriptor,
        kind: &str,
        progress: Option<&ProgressFn<'_>>,
    ) -> Result<u64, Error> {
        let path = self.store.blob_path(&descriptor.digest);
        let report = |done: u64, cached: bool| {
            if let Some(progress) = progress {
                progress(&LayerProgress {
                    digest: descriptor.digest.clone(),
                    done,
                    total: descriptor.size,
                    cached,
                });
            }
        };
        if blobs::present(&path, Some(descriptor.size)) {
            report(descriptor.size, true);
            return Ok(0);
        }
        let what = format!("{kind} {} of {}", descriptor.digest, self.reference);
        let oci_descriptor = OciDescriptor {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.to_string(),
            size: i64::try_from(descriptor.size).unwrap_or(i64::MAX),
            ..OciDescriptor::default()
        };
        let oci = self.oci_reference(None, Some(&descriptor.digest));
        // Authenticates when needed (the token for this repository), as manifest pulls do.
        self.client
            .store_auth_if_needed(oci.resolve_registry(), &self.auth)
            .await;
        let mut stream = self
            .client
            .pull_blob_stream(&oci, &oci_descriptor)
            .await
            .map_err(|e| self.error(e))?;
        let mut writer = self.store.blob_writer()?;
        let mut hasher = Hasher::new();
        let mut last_report = 0u64;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    hasher.update(&bytes);
                    writer.write(&bytes)?;
                    if writer.len() > descriptor.size {
                        return Err(Error::SizeMismatch {
                            what,
                            digest: descriptor.digest.clone(),
                            expected: descriptor.size,
                            actual: writer.len(),
                        });
                    }
                    if writer.len() - last_report >= 256 * 1024 {
                        last_report = writer.len();
                        report(last_report, false);
                    }
                }
                Err(err) => {
                    // oci-client's own digest check fails the stream's end: name the digests.
                    let received = hasher.len();
                    let actual = hasher.finish();
                    if received == descriptor.size && actual != descriptor.digest {
                        return Err(Error::DigestMismatch {
                            what,
                            expected: descriptor.digest.clone(),
                            actual,
                        });
                    }
                    return Err(Error::Registry {
                        endpoint: self.planned.endpoint.url(),
                        reference: self.reference.to_string(),
                        message: format!("downloading {what}: {err}"),
                    });
                }
            }
        }
        let size = descriptor.size;
        let digest = descriptor.digest.clone();
        let received = writer.len();
        spawn_blocking(move || writer.commit(Some(&digest), Some(size), &what)).await?;
        report(size, false);
        Ok(received)
    }
}

async fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("blocking task: {e}")))?
}

#[cfg(test)]
mod tests {

    /// The pull futures run on tokio's worker threads (the node agent spawns them), so they
    /// must be `Send`; this fails to compile otherwise.
    #[allow(dead_code)]
    fn pull_futures_are_send(puller: &Puller, secrets: &PullSecrets) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&puller.ensure("busybox", PullPolicy::Always, secrets, None));
        is_send(&puller.pull("busybox", secrets, None));
    }
    use super::*;

    #[test]
    fn policy_defaults_like_kubernetes() {
        assert_eq!(PullPolicy::default_for("busybox"), PullPolicy::Always);
        assert_eq!(
            PullPolicy::default_for("busybox:latest"),
            PullPolicy::Always
        );
        assert_eq!(
            PullPolicy::default_for("busybox:1.36"),
            PullPolicy::IfNotPresent
        );
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_millis(1234)), "1.234s");
        assert_eq!(go_duration(Duration::from_millis(2000)), "2s");
        assert_eq!(go_duration(Duration::from_micros(350_500)), "350.5ms");
    }
}
