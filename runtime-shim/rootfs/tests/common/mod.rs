//! Test helpers: layer archives built with the `tar` crate (hostile headers written raw),
//! compressed with the real `gzip` and `zstd` tools, and a snapshotter in a temp directory.

#![allow(dead_code)]

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kmicro_rootfs::{Compression, Digest, LayerSource, Snapshotter};
use tar::{EntryType, Header};

/// Builds one layer archive.
pub struct Layer {
    builder: tar::Builder<Vec<u8>>,
}

/// A fixed time for entries (2023-11-14T22:13:20Z).
pub const MTIME: u64 = 1_700_000_000;

fn header(kind: EntryType, name: &[u8], mode: u32, size: u64) -> Header {
    let mut header = Header::new_gnu();
    // Written raw: the tar crate's own setters refuse `..` and absolute names.
    let slot = &mut header.as_old_mut().name;
    assert!(name.len() < slot.len(), "test names fit the old header");
    slot[..name.len()].copy_from_slice(name);
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(MTIME);
    header
}

impl Layer {
    pub fn new() -> Layer {
        Layer {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn append(mut self, mut header: Header, data: &[u8]) -> Layer {
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    pub fn dir(self, name: &str, mode: u32) -> Layer {
        let header = header(EntryType::Directory, name.as_bytes(), mode, 0);
        self.append(header, b"")
    }

    pub fn file(self, name: &str, content: &[u8]) -> Layer {
        self.file_owned(name, content, 0o644, 0, 0)
    }

    pub fn file_owned(self, name: &str, content: &[u8], mode: u32, uid: u64, gid: u64) -> Layer {
        let mut header = header(
            EntryType::Regular,
            name.as_bytes(),
            mode,
            content.len() as u64,
        );
        header.set_uid(uid);
        header.set_gid(gid);
        self.append(header, content)
    }

    /// A regular file whose name is written as given, `..` and `/` included.
    pub fn raw_file(self, name: &[u8], content: &[u8]) -> Layer {
        let header = header(EntryType::Regular, name, 0o644, content.len() as u64);
        self.append(header, content)
    }

    pub fn symlink(self, name: &str, target: &str) -> Layer {
        let mut header = header(EntryType::Symlink, name.as_bytes(), 0o777, 0);
        header.set_link_name_literal(target).unwrap();
        self.append(header, b"")
    }

    pub fn hardlink(self, name: &str, target: &str) -> Layer {
        let mut header = header(EntryType::Link, name.as_bytes(), 0o644, 0);
        header.set_link_name_literal(target).unwrap();
        self.append(header, b"")
    }

    pub fn device(self, name: &str, kind: EntryType, major: u32, minor: u32, mode: u32) -> Layer {
        let mut header = header(kind, name.as_bytes(), mode, 0);
        header.set_device_major(major).unwrap();
        header.set_device_minor(minor).unwrap();
        self.append(header, b"")
    }

    /// PAX records for the next entry.
    pub fn pax(mut self, records: &[(&str, &[u8])]) -> Layer {
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().unwrap()
    }
}

/// A temp directory with a snapshotter under `snap/`, blobs under `blobs/` and a directory
/// `outside/` that hostile layers aim at.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub snapshotter: Snapshotter,
    counter: std::cell::Cell<u32>,
}

impl Env {
    pub fn new() -> Env {
        assert!(
            rustix::process::geteuid().is_root(),
            "these tests mount overlays and create device nodes: run them as root"
        );
        let dir = tempfile::Builder::new()
            .prefix("kmicro-rootfs-")
            .tempdir_in("/var/tmp")
            .unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        std::fs::create_dir(dir.path().join("outside")).unwrap();
        let snapshotter = Snapshotter::open(dir.path().join("snap")).unwrap();
        Env {
            dir,
            snapshotter,
            counter: std::cell::Cell::new(0),
        }
    }

    pub fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    /// Writes the archive as a blob with the given compression and returns its source.
    pub fn blob(&self, tar: &[u8], compression: Compression) -> LayerSource {
        let n = self.counter.get();
        self.counter.set(n + 1);
        let path = self.dir.path().join("blobs").join(format!("layer-{n}"));
        let bytes = match compression {
            Compression::None | Compression::Detect => tar.to_vec(),
            Compression::Gzip => run_filter(&["gzip", "-c"], tar),
            Compression::Zstd => run_filter(&["zstd", "-c", "-q"], tar),
        };
        std::fs::write(&path, bytes).unwrap();
        LayerSource {
            path,
            compression,
            diff_id: Digest::of(tar).to_string(),
        }
    }

    /// Names under a directory, recursively, sorted (for "nothing was left" checks).
    pub fn tree(path: &Path) -> Vec<String> {
        let mut out = Vec::new();
        walk(path, path, &mut out);
        out.sort();
        out
    }

    /// Asserts that nothing reached `outside/` and that the snapshotter holds no layer and no
    /// temporary directory.
    pub fn assert_nothing_left(&self) {
        assert_eq!(
            Env::tree(&self.outside()),
            Vec::<String>::new(),
            "outside/ touched"
        );
        assert_eq!(
            Env::tree(&self.dir.path().join("snap/layers")),
            Vec::<String>::new()
        );
        assert_eq!(
            Env::tree(&self.dir.path().join("snap/tmp")),
            Vec::<String>::new()
        );
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Unmount whatever a failing test left mounted before the temp dir goes.
        if let Ok(ids) = self.snapshotter.containers() {
            for id in ids {
                let _ = self.snapshotter.remove(&id);
            }
        }
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let path = entry.path();
        out.push(path.strip_prefix(base).unwrap().display().to_string());
        if entry.file_type().unwrap().is_dir() {
            walk(base, &path, out);
        }
    }
}

pub fn run_filter(argv: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", argv[0]));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success(), "{argv:?} failed");
    output.stdout
}

/// (inode, link count) of a path, not following symbolic links.
pub fn inode(path: &Path) -> (u64, u64) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    (meta.ino(), meta.nlink())
}
