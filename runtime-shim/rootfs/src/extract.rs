//! One layer archive written into one directory, entry by entry, with nothing written outside
//! it and overlayfs whiteouts for the OCI ones.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, XattrFlags};
use rustix::io::Errno;
use tar::EntryType;

use crate::digest::{Digest, HashingReader};
use crate::entry_path::{EntryPath, join};
use crate::error::{LayerError, Refusal};
use crate::metadata::{Metadata, entry_error};
use crate::resolve::{ResolveError, Resolver};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Other `.wh..wh.` names are AUFS bookkeeping (hard link directories), without meaning here.
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const COPY_BUFFER: usize = 64 * 1024;

/// What one unpacked layer held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Archive entries written (whiteouts included).
    pub entries: u64,
    /// Length of the uncompressed archive.
    pub tar_bytes: u64,
}

/// Unpacks the tar stream `input` into the empty directory `root` (open as `root_fd`), then
/// reads the stream to its end and returns its digest. The caller compares it with the
/// layer's `diff_id` and throws the directory away on any error.
pub(crate) fn unpack(
    input: impl Read,
    root: &Path,
    root_fd: OwnedFd,
) -> Result<(Digest, UnpackStats), LayerError> {
    let mut hashing = HashingReader::new(input);
    let mut extractor = Extractor {
        resolver: Resolver::new(root_fd),
        root: root.to_owned(),
        directory_times: Vec::new(),
        buffer: vec![0; COPY_BUFFER],
        entries: 0,
    };
    let data_end = Rc::new(Cell::new(0));
    let mut archive = tar::Archive::new(PadToBlock {
        inner: &mut hashing,
        position: 0,
        padding: 0,
        data_end: Rc::clone(&data_end),
    });
    for entry in archive.entries().map_err(LayerError::Read)? {
        let mut entry = entry.map_err(LayerError::Read)?;
        data_end.set(entry.raw_file_position() + entry.header().entry_size().unwrap_or(0));
        extractor.entry(&mut entry)?;
    }
    drop(archive);
    extractor.set_directory_times()?;
    let (digest, tar_bytes) = hashing.finish().map_err(LayerError::Read)?;
    Ok((
        digest,
        UnpackStats {
            entries: extractor.entries,
            tar_bytes,
        },
    ))
}

/// Completes an archive that stops right after its last entry's data with the zeros of the
/// block. umoci (0.4) writes layers like that: no padding after the last entry's data and no
/// end-of-archive blocks; GNU tar and the `tar` crate refuse them. The content is whole and is
/// what the `diff_id` covers (the digest is taken below this adapter, of the real bytes only).
/// A stream that ends anywhere else, inside a header or inside data, stays an error.
struct PadToBlock<R> {
    inner: R,
    position: u64,
    padding: u64,
    /// Where the current entry's data ends in the stream (set by the extractor).
    data_end: Rc<Cell<u64>>,
}

impl<R: Read> Read for PadToBlock<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.padding == 0 {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.position += n as u64;
                return Ok(n);
            }
            let short = self.position % 512;
            if short == 0 || self.position != self.data_end.get() {
                return Ok(0);
            }
            tracing::debug!(
                bytes = 512 - short,
                "archive ends without padding; completed"
            );
            self.padding = 512 - short;
            self.position += self.padding;
        }
        // Once: afterwards the position is a block boundary and the inner end is the end.
        let n = buf
            .len()
            .min(usize::try_from(self.padding).unwrap_or(usize::MAX));
        buf[..n].fill(0);
        self.padding -= n as u64;
        Ok(n)
    }
}

struct Extractor {
    resolver: Resolver,
    root: PathBuf,
    /// Directories get their times last: creating their children changes them.
    directory_times: Vec<(Vec<Vec<u8>>, Metadata)>,
    buffer: Vec<u8>,
    entries: u64,
}

/// The pieces of one entry that every handler needs.
struct Target<'a> {
    /// The entry's name for messages.
    entry: &'a str,
    parent: &'a OwnedFd,
    name: &'a [u8],
    /// The path beneath the layer root.
    relative: Vec<u8>,
}

impl Extractor {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), LayerError> {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let raw_name = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_name).into_owned();
        let refused = |reason| LayerError::Refused {
            entry: name.clone(),
            reason,
        };
        let path = EntryPath::parse(&raw_name).map_err(refused)?;
        let metadata = Metadata::read(entry).map_err(refused)?;
        self.entries += 1;

        let Some(file_name) = path.file_name() else {
            if kind.is_dir() {
                return self.root_directory(&name, metadata);
            }
            return Err(refused(Refusal::NamesRoot));
        };
        if let Some(hidden) = file_name.strip_prefix(WHITEOUT_PREFIX) {
            return self.whiteout(&name, &path, hidden, &metadata);
        }
        let parent = self
            .resolver
            .dir(path.parent(), true)
            .map_err(|e| resolve_error(&name, e))?;
        let target = Target {
            entry: &name,
            parent: &parent,
            name: file_name,
            relative: join(path.components()),
        };
        match kind {
            EntryType::Directory => self.directory(&target, &path, metadata),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.regular(&target, entry, &metadata)
            }
            EntryType::Symlink => {
                let link = entry.link_name_bytes().unwrap_or_default();
                self.symlink(&target, &link, &metadata)
            }
            EntryType::Link => {
                let link = entry.link_name_bytes().unwrap_or_default().into_owned();
                self.hard_link(&target, &link)
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.node(&target, kind, &metadata)
            }
            other => Err(refused(Refusal::UnsupportedType(char::from(
                other.as_byte(),
            )))),
        }
    }

    /// The root's own entry (`./`): its mode and owner become the container's `/`.
    fn root_directory(&mut self, entry: &str, metadata: Metadata) -> Result<(), LayerError> {
        let root = self.resolver.root();
        let dir = rustix::fs::openat(&*root, ".", read_dir_flags(), Mode::empty())
            .map_err(entry_error(entry, "open directory"))?;
        metadata.apply_to_fd(dir.as_fd(), entry)?;
        self.directory_times.push((Vec::new(), metadata));
        Ok(())
    }

    /// Makes room for a new entry: an existing directory stays when a directory is coming
    /// (its contents merge), anything else is removed.
    fn clear(&mut self, target: &Target<'_>, keep_directory: bool) -> Result<(), LayerError> {
        let stat = match rustix::fs::statat(target.parent, target.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(entry_error(target.entry, "stat existing entry")(e)),
        };
        if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
            if keep_directory {
                return Ok(());
            }
            // Its path was resolved without symbolic links and only this unpack writes here.
            std::fs::remove_dir_all(self.full_path(target)).map_err(|e| LayerError::Entry {
                entry: target.entry.to_owned(),
                op: "remove existing directory",
                source: e,
            })?;
            self.resolver.forget();
            return Ok(());
        }
        rustix::fs::unlinkat(target.parent, target.name, AtFlags::empty())
            .map_err(entry_error(target.entry, "remove existing entry"))
    }

    fn full_path(&self, target: &Target<'_>) -> PathBuf {
        self.root
            .join(std::ffi::OsStr::from_bytes(&target.relative))
    }

    fn directory(
        &mut self,
        target: &Target<'_>,
        path: &EntryPath<'_>,
        metadata: Metadata,
    ) -> Result<(), LayerError> {
        self.clear(target, true)?;
        match rustix::fs::mkdirat(target.parent, target.name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(entry_error(target.entry, "create directory")(e)),
        }
        let dir = rustix::fs::openat(target.parent, target.name, read_dir_flags(), Mode::empty())
            .map_err(entry_error(target.entry, "open directory"))?;
        metadata.apply_to_fd(dir.as_fd(), target.entry)?;
        let components = path.components().iter().map(|c| c.to_vec()).collect();
        self.directory_times.push((components, metadata));
        Ok(())
    }

    fn regular<R: Read>(
        &mut self,
        target: &Target<'_>,
        content: &mut R,
        metadata: &Metadata,
    ) -> Result<(), LayerError> {
        self.clear(target, false)?;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(
            target.parent,
            target.name,
            flags,
            Mode::from_raw_mode(0o600),
        )
        .map_err(entry_error(target.entry, "create file"))?;
        let mut file = File::from(fd);
        let write_error = |source| LayerError::Entry {
            entry: target.entry.to_owned(),
            op: "write file",
            source,
        };
        loop {
            let n = match content.read(&mut self.buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LayerError::Read(e)),
            };
            file.write_all(&self.buffer[..n]).map_err(write_error)?;
        }
        metadata.apply_to_fd(file.as_fd(), target.entry)?;
        rustix::fs::futimens(&file, &metadata.times())
            .map_err(entry_error(target.entry, "set times"))
    }

    /// A symbolic link is created whatever it points at (absolute targets are normal in
    /// images and mean the container's root); what is refused is any later entry whose path
    /// goes through it.
    fn symlink(
        &mut self,
        target: &Target<'_>,
        link: &[u8],
        metadata: &Metadata,
    ) -> Result<(), LayerError> {
        if link.is_empty() {
            return Err(LayerError::Refused {
                entry: target.entry.to_owned(),
                reason: Refusal::SymlinkTargetEmpty,
            });
        }
        self.clear(target, false)?;
        rustix::fs::symlinkat(link, target.parent, target.name)
            .map_err(entry_error(target.entry, "create symbolic link"))?;
        let full = self.full_path(target);
        metadata.apply_to_name(target.parent, target.name, &full, false, target.entry)
    }

    /// A hard link may only point at an entry already in this layer, reached without symbolic
    /// links.
    fn hard_link(&mut self, target: &Target<'_>, link: &[u8]) -> Result<(), LayerError> {
        let link_text = String::from_utf8_lossy(link).into_owned();
        let refused = |reason| LayerError::Refused {
            entry: target.entry.to_owned(),
            reason,
        };
        let link_path = EntryPath::parse(link).map_err(|reason| {
            refused(match reason {
                Refusal::AbsolutePath => Refusal::LinkTargetAbsolute(link_text.clone()),
                _ => Refusal::LinkTargetDotDot(link_text.clone()),
            })
        })?;
        let Some(link_name) = link_path.file_name() else {
            return Err(refused(Refusal::LinkTargetEmpty));
        };
        let link_parent = self
            .resolver
            .dir(link_path.parent(), false)
            .map_err(|e| match e {
                ResolveError::Symlink(at) => refused(Refusal::LinkTargetThroughSymlink {
                    target: link_text.clone(),
                    at: String::from_utf8_lossy(&at).into_owned(),
                }),
                ResolveError::Missing(_) | ResolveError::NotADirectory(_) => {
                    refused(Refusal::LinkTargetMissing(link_text.clone()))
                }
                ResolveError::Io(source) => LayerError::Entry {
                    entry: target.entry.to_owned(),
                    op: "open hard link target's directory",
                    source,
                },
            })?;
        // The resolver's cache now holds the target's directory, but `target.parent` is the
        // entry's own (held open by the caller), so both stay valid.
        let same_inode = |a: &rustix::fs::Stat, b: &rustix::fs::Stat| {
            a.st_dev == b.st_dev && a.st_ino == b.st_ino
        };
        let source = match rustix::fs::statat(&*link_parent, link_name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => return Err(refused(Refusal::LinkTargetMissing(link_text))),
            Err(e) => return Err(entry_error(target.entry, "stat hard link target")(e)),
        };
        if let Ok(existing) =
            rustix::fs::statat(target.parent, target.name, AtFlags::SYMLINK_NOFOLLOW)
            && same_inode(&existing, &source)
        {
            return Ok(());
        }
        self.clear(target, false)?;
        // No AT_SYMLINK_FOLLOW: a link to a symbolic link links the symbolic link itself.
        rustix::fs::linkat(
            &*link_parent,
            link_name,
            target.parent,
            target.name,
            AtFlags::empty(),
        )
        .map_err(entry_error(target.entry, "create hard link"))
    }

    fn node(
        &mut self,
        target: &Target<'_>,
        kind: EntryType,
        metadata: &Metadata,
    ) -> Result<(), LayerError> {
        self.clear(target, false)?;
        let (file_type, device) = match kind {
            EntryType::Char => (FileType::CharacterDevice, metadata.device),
            EntryType::Block => (FileType::BlockDevice, metadata.device),
            _ => (FileType::Fifo, (0, 0)),
        };
        rustix::fs::mknodat(
            target.parent,
            target.name,
            file_type,
            Mode::from_raw_mode(0o600),
            rustix::fs::makedev(device.0, device.1),
        )
        .map_err(entry_error(target.entry, "create device node"))?;
        let full = self.full_path(target);
        metadata.apply_to_name(target.parent, target.name, &full, true, target.entry)
    }

    /// `.wh..wh..opq` makes its directory opaque; `.wh.<name>` becomes overlayfs's whiteout
    /// for `<name>`: a character device 0/0.
    fn whiteout(
        &mut self,
        entry: &str,
        path: &EntryPath<'_>,
        hidden: &[u8],
        metadata: &Metadata,
    ) -> Result<(), LayerError> {
        let file_name = path.file_name().unwrap_or_default();
        let parent = self
            .resolver
            .dir(path.parent(), true)
            .map_err(|e| resolve_error(entry, e))?;
        if file_name == OPAQUE_MARKER {
            let dir = rustix::fs::openat(&*parent, ".", read_dir_flags(), Mode::empty())
                .map_err(entry_error(entry, "open directory"))?;
            return rustix::fs::fsetxattr(&dir, OPAQUE_XATTR, b"y", XattrFlags::empty())
                .map_err(entry_error(entry, "mark directory opaque"));
        }
        if file_name.starts_with(AUFS_META_PREFIX) {
            tracing::debug!(entry, "skipping AUFS metadata");
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(LayerError::Refused {
                entry: entry.to_owned(),
                reason: Refusal::BadWhiteout(String::from_utf8_lossy(hidden).into_owned()),
            });
        }
        let mut relative = join(path.parent());
        if !relative.is_empty() {
            relative.push(b'/');
        }
        relative.extend_from_slice(hidden);
        let target = Target {
            entry,
            parent: &parent,
            name: hidden,
            relative,
        };
        self.clear(&target, false)?;
        rustix::fs::mknodat(
            &*parent,
            hidden,
            FileType::CharacterDevice,
            Mode::empty(),
            rustix::fs::makedev(0, 0),
        )
        .map_err(entry_error(entry, "create whiteout"))?;
        rustix::fs::chownat(
            &*parent,
            hidden,
            Some(rustix::fs::Uid::from_raw(metadata.uid)),
            Some(rustix::fs::Gid::from_raw(metadata.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(entry_error(entry, "chown whiteout"))
    }

    fn set_directory_times(&mut self) -> Result<(), LayerError> {
        let times = std::mem::take(&mut self.directory_times);
        for (components, metadata) in times {
            let components: Vec<&[u8]> = components.iter().map(Vec::as_slice).collect();
            let entry = String::from_utf8_lossy(&join(&components)).into_owned();
            let result = match components.split_last() {
                None => rustix::fs::utimensat(
                    &*self.resolver.root(),
                    ".",
                    &metadata.times(),
                    AtFlags::empty(),
                ),
                Some((name, parent)) => {
                    let parent = match self.resolver.dir(parent, false) {
                        Ok(parent) => parent,
                        // Replaced by a later entry: nothing left to date.
                        Err(ResolveError::Missing(_) | ResolveError::NotADirectory(_)) => continue,
                        Err(e) => return Err(resolve_error(&entry, e)),
                    };
                    rustix::fs::utimensat(
                        &*parent,
                        *name,
                        &metadata.times(),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )
                }
            };
            result.map_err(entry_error(&entry, "set directory times"))?;
        }
        Ok(())
    }
}

fn read_dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

fn resolve_error(entry: &str, error: ResolveError) -> LayerError {
    let refused = |reason| LayerError::Refused {
        entry: entry.to_owned(),
        reason,
    };
    match error {
        ResolveError::Symlink(at) => refused(Refusal::ThroughSymlink(
            String::from_utf8_lossy(&at).into_owned(),
        )),
        ResolveError::NotADirectory(at) => refused(Refusal::NotADirectory(
            String::from_utf8_lossy(&at).into_owned(),
        )),
        ResolveError::Missing(at) => LayerError::Entry {
            entry: entry.to_owned(),
            op: "open parent directory",
            source: io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} does not exist", String::from_utf8_lossy(&at)),
            ),
        },
        ResolveError::Io(source) => LayerError::Entry {
            entry: entry.to_owned(),
            op: "open parent directory",
            source,
        },
    }
}
