//! Content-addressed blobs: `blobs/sha256/<hex>`. A blob is written to a temporary file in
//! `tmp/`, hashed as it is written, checked against the digest (and size) it must have, synced,
//! then renamed into place: a failed or corrupted download never leaves a blob.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::digest::{Digest, Hasher};
use crate::error::Error;

/// A blob being written.
pub(crate) struct BlobWriter {
    file: NamedTempFile,
    hasher: Hasher,
    blobs_dir: PathBuf,
}

impl BlobWriter {
    pub(crate) fn new(tmp_dir: &Path, blobs_dir: &Path) -> Result<Self, Error> {
        let file = tempfile::Builder::new()
            .prefix("ingest-")
            .tempfile_in(tmp_dir)
            .map_err(Error::io("creating a temporary file in", tmp_dir))?;
        Ok(Self {
            file,
            hasher: Hasher::new(),
            blobs_dir: blobs_dir.to_owned(),
        })
    }

    /// Appends bytes.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.hasher.update(bytes);
        let path = self.file.path().to_owned();
        self.file
            .as_file_mut()
            .write_all(bytes)
            .map_err(Error::io("writing", path))
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// Copies a whole reader in.
    pub(crate) fn copy_from(&mut self, reader: &mut impl Read, what: &Path) -> Result<(), Error> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("reading", what)(e)),
            };
            self.write(&buf[..n])?;
        }
    }

    /// The digest of what was written, without committing.
    pub(crate) fn into_parts(self) -> (NamedTempFile, Digest, u64) {
        let len = self.hasher.len();
        (self.file, self.hasher.finish(), len)
    }

    /// Checks the content against `expected` (digest and, when given, size), syncs it and
    /// renames it into place. On a mismatch the temporary file is deleted and the error names
    /// `what` and both digests.
    pub(crate) fn commit(
        self,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
        what: &str,
    ) -> Result<(), Error> {
        let blobs_dir = self.blobs_dir.clone();
        let (file, digest, size) = self.into_parts();
        if let Some(expected) = expected
            && *expected != digest
        {
            return Err(Error::DigestMismatch {
                what: what.to_owned(),
                expected: expected.clone(),
                actual: digest,
            });
        }
        if let Some(expected_size) = expected_size
            && expected_size != size
        {
            return Err(Error::SizeMismatch {
                what: what.to_owned(),
                digest,
                expected: expected_size,
                actual: size,
            });
        }
        place(file, &blobs_dir, digest, size)
    }
}

/// Syncs a temporary file holding a blob with a known digest and renames it into place.
pub(crate) fn place(
    file: NamedTempFile,
    blobs_dir: &Path,
    digest: Digest,
    size: u64,
) -> Result<(), Error> {
    let tmp_path = file.path().to_owned();
    file.as_file()
        .sync_all()
        .map_err(Error::io("syncing", &tmp_path))?;
    let path = blobs_dir.join(digest.hex());
    file.persist(&path)
        .map_err(|e| Error::io("renaming a temporary file to", &path)(e.error))?;
    tracing::trace!(%digest, size, "blob stored");
    Ok(())
}

/// Whether a blob is present with the expected size (digests were checked when it was written).
pub(crate) fn present(path: &Path, size: Option<u64>) -> bool {
    match std::fs::metadata(path) {
        Ok(meta) => meta.is_file() && size.is_none_or(|size| meta.len() == size),
        Err(_) => false,
    }
}

/// Reads a small blob whole (manifests, configs), checking its digest again.
pub(crate) fn read_verified(path: &Path, digest: &Digest) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::MissingBlob {
                    digest: digest.clone(),
                    path: path.to_owned(),
                }
            } else {
                Error::io("reading", path)(e)
            }
        })?;
    let actual = Digest::of(&bytes);
    if actual != *digest {
        return Err(Error::DigestMismatch {
            what: format!("stored blob {}", path.display()),
            expected: digest.clone(),
            actual,
        });
    }
    Ok(bytes)
}
