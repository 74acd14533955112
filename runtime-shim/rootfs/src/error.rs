//! The crate's errors: every one names the layer, entry, file or container it is about.

use std::io;
use std::path::PathBuf;

/// What went wrong in a [`Snapshotter`](crate::Snapshotter) call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation on the snapshotter's own directories failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation, such as `create directory`.
        op: &'static str,
        /// The file or directory it was done on.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A layer could not be unpacked; nothing of it was kept.
    #[error("layer {index} ({diff_id}, {path}): {error}")]
    Layer {
        /// The layer's position in the image, 0 for the bottom layer.
        index: usize,
        /// The layer's `diff_id` from the image config.
        diff_id: String,
        /// The layer's blob file.
        path: PathBuf,
        /// What was wrong with it.
        #[source]
        error: Box<LayerError>,
    },
    /// A digest is not of the form `sha256:<64 lowercase hex digits>`.
    #[error("invalid digest {value:?}: {reason}")]
    InvalidDigest {
        /// The digest as given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A media type that names no known layer format.
    #[error("unsupported layer media type {0:?}")]
    UnsupportedMediaType(String),
    /// The snapshotter's root directory cannot be used in overlayfs mount options.
    #[error("snapshotter root {path}: {reason}")]
    InvalidRoot {
        /// The root as given.
        path: PathBuf,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// A container id that cannot be a directory name.
    #[error("invalid container id {id:?}: {reason}")]
    InvalidContainerId {
        /// The id as given.
        id: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A lower directory given to `prepare` that this snapshotter did not unpack.
    #[error("{path} is not an unpacked layer of this snapshotter")]
    NotALayer {
        /// The directory as given.
        path: PathBuf,
    },
    /// `prepare` was given no layers.
    #[error("container {id}: a root filesystem needs at least one layer")]
    NoLayers {
        /// The container.
        id: String,
    },
    /// More layers than fit in one overlayfs mount's options.
    #[error("container {id}: {layers} layers do not fit in the overlay mount options")]
    TooManyLayers {
        /// The container.
        id: String,
        /// How many layers were asked for.
        layers: usize,
    },
    /// The container's root filesystem is mounted already, but not as asked.
    #[error(
        "container {id}: root filesystem is mounted {mounted} already, {asked} was asked",
        mounted = if *mounted_read_only { "read-only" } else { "read-write" },
        asked = if *mounted_read_only { "read-write" } else { "read-only" }
    )]
    MountedDifferently {
        /// The container.
        id: String,
        /// Whether the existing mount is read-only.
        mounted_read_only: bool,
    },
    /// Mounting the overlay failed.
    #[error("mount overlay at {target} (options {options:?}): {source}")]
    Mount {
        /// The mount point.
        target: PathBuf,
        /// The mount options passed to the kernel.
        options: String,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },
    /// Unmounting a container's root filesystem failed.
    #[error("unmount {target}: {source}")]
    Unmount {
        /// The mount point.
        target: PathBuf,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },
}

/// Why one layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The blob could not be opened.
    #[error("open blob: {0}")]
    Open(#[source] io::Error),
    /// The blob could not be read, decompressed or parsed as a tar archive.
    #[error("read archive: {0}")]
    Read(#[source] io::Error),
    /// An entry tries to leave the layer directory or is otherwise unsafe: the whole layer is
    /// refused.
    #[error("entry {entry:?} refused: {reason}")]
    Refused {
        /// The entry's name as written in the archive (lossily decoded).
        entry: String,
        /// Why it was refused.
        reason: Refusal,
    },
    /// Writing an entry failed.
    #[error("entry {entry:?}: {op}: {source}")]
    Entry {
        /// The entry's name as written in the archive (lossily decoded).
        entry: String,
        /// The operation that failed, such as `create file`.
        op: &'static str,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The uncompressed archive is not the one the image config names.
    #[error("uncompressed content has digest {actual}, the image config says {expected}")]
    DigestMismatch {
        /// The `diff_id` from the image config.
        expected: String,
        /// The digest of what was read.
        actual: String,
    },
    /// Writing the unpacked layer to its final place failed.
    #[error("{op}: {source}")]
    Commit {
        /// The operation that failed.
        op: &'static str,
        /// The system's error.
        #[source]
        source: io::Error,
    },
}

/// Why an archive entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The name is absolute.
    #[error("absolute path")]
    AbsolutePath,
    /// The name has a `..` component.
    #[error("`..` component")]
    DotDot,
    /// The name is empty or names the layer root with a type other than a directory.
    #[error("names the layer root")]
    NamesRoot,
    /// A directory on the entry's path is a symbolic link.
    #[error("{0:?} on its path is a symbolic link")]
    ThroughSymlink(String),
    /// A directory on the entry's path is not a directory.
    #[error("{0:?} on its path is not a directory")]
    NotADirectory(String),
    /// A hard link whose target is absolute.
    #[error("hard link target {0:?} is absolute")]
    LinkTargetAbsolute(String),
    /// A hard link whose target has a `..` component.
    #[error("hard link target {0:?} has a `..` component")]
    LinkTargetDotDot(String),
    /// A hard link whose target is reached through a symbolic link.
    #[error("hard link target {target:?}: {at:?} on its path is a symbolic link")]
    LinkTargetThroughSymlink {
        /// The link's target.
        target: String,
        /// The symbolic link on the way.
        at: String,
    },
    /// A hard link whose target is not in the layer.
    #[error("hard link target {0:?} is not in the layer")]
    LinkTargetMissing(String),
    /// A hard link without a target name.
    #[error("hard link without a target")]
    LinkTargetEmpty,
    /// A symbolic link without a target.
    #[error("symbolic link without a target")]
    SymlinkTargetEmpty,
    /// A whiteout whose name is not a file name.
    #[error("whiteout of {0:?} is not a valid name")]
    BadWhiteout(String),
    /// A user or group id beyond 32 bits.
    #[error("{field} {value} does not fit in 32 bits")]
    IdOutOfRange {
        /// `uid` or `gid`.
        field: &'static str,
        /// The value in the archive.
        value: u64,
    },
    /// An entry type that has no place in a container image layer.
    #[error("unsupported entry type {0:?}")]
    UnsupportedType(char),
    /// A header field that could not be read.
    #[error("bad header field {field}: {message}")]
    BadHeader {
        /// The field.
        field: &'static str,
        /// The parser's message.
        message: String,
    },
}

impl Error {
    /// What was wrong with a layer, when this is a layer's error.
    pub fn layer_error(&self) -> Option<&LayerError> {
        match self {
            Error::Layer { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
