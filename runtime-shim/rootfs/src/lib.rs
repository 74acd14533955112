//! kmicro's container root filesystems: OCI image layers unpacked safely into one directory
//! each (keyed by chain ID), and an overlayfs mount per container over them.
//!
//! ```no_run
//! use kmicro_rootfs::{Compression, LayerSource, Snapshotter};
//!
//! # fn main() -> Result<(), kmicro_rootfs::Error> {
//! let snapshots = Snapshotter::open("/var/lib/kmicro/agent/snapshots")?;
//! let lowers = snapshots.unpack(&[LayerSource {
//!     path: "/var/lib/kmicro/agent/content/blobs/sha256/…".into(),
//!     compression: Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+gzip")?,
//!     diff_id: "sha256:…".into(),
//! }])?;
//! let rootfs = snapshots.prepare("c1", &lowers, false)?;
//! println!("container root: {}", rootfs.path.display());
//! snapshots.remove("c1")?;
//! # Ok(()) }
//! ```
//!
//! Unpacking refuses any layer with an entry that could write outside its directory (`..`,
//! absolute names, paths through symbolic links, hard links to outside or through symbolic
//! links); directories are opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` or an
//! `O_NOFOLLOW` walk, never by string checks alone. OCI whiteouts become overlayfs whiteouts,
//! so the layer directories stack directly as overlay lower directories.

mod digest;
mod entry_path;
mod error;
mod extract;
mod layer;
mod metadata;
mod overlay;
mod resolve;
mod snapshotter;

pub use digest::{Digest, chain_ids};
pub use error::{Error, LayerError, Refusal, Result};
pub use extract::UnpackStats;
pub use layer::{Compression, LayerSource};
pub use snapshotter::{GcReport, Rootfs, Snapshotter};
