//! kmicro's image store: OCI image pulls from registries, a content store shared by images,
//! and airgap import — what the node agent calls to make sure a pod's image is present, and
//! what `kmicro images` drives.
//!
//! - [`ImageStore`]: blobs by digest and image records under a root dir (the agent uses
//!   `<data-dir>/agent/images-store`), safe for two processes at once; list, find, remove,
//!   [`gc`](ImageStore::gc), [`import_archive`](ImageStore::import_archive),
//!   [`import_dir`](ImageStore::import_dir) and, for the runtime,
//!   [`runtime_image`](ImageStore::runtime_image) (config and ordered layers: the contract with
//!   the rootfs crate, see [`RuntimeImage`]).
//! - [`Puller`]: pulls with `oci-client` through the endpoints of a [`RegistriesConfig`]
//!   (k3s's registries.yaml), with credentials from it and from imagePullSecrets
//!   ([`PullSecrets`]), resolving multi-arch indexes for a [`Platform`].
//! - [`ImageRef`]: references normalised as Docker does.
//!
//! Blocking file I/O: the store's methods are synchronous (call them from `spawn_blocking`
//! in async code); [`Puller`]'s are async and do their blocking parts on tokio's blocking pool.

mod assemble;
mod credentials;
mod digest;
mod error;
mod import;
mod manifest;
mod platform;
mod pull;
mod reference;
mod registries;
mod runtime;
mod store;

pub use credentials::{Credential, DOCKER_CONFIG_JSON_TYPE, DOCKERCFG_TYPE, PullSecrets};
pub use digest::{Digest, Hasher};
pub use error::Error;
pub use import::ImportDirReport;
pub use manifest::{
    Compression, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST, ImageConfig, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_LAYER_TAR,
    OCI_LAYER_ZSTD, OCI_MANIFEST,
};
pub use platform::Platform;
pub use pull::{Ensured, LayerProgress, ProgressFn, PullOutcome, PullPolicy, Puller};
pub use reference::{DEFAULT_REGISTRY, DEFAULT_TAG, ImageRef};
pub use registries::{Endpoint, HostConfig, Mirror, PlannedEndpoint, RegistriesConfig, Rewrite};
pub use runtime::{RuntimeImage, RuntimeLayer};
pub use store::{GcReport, ImageRecord, ImageStore, LayerRecord, RemoveReport};
