//! Opening directories beneath a layer root without ever following a symbolic link.
//!
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)`
//! opens a whole path in one call; where it fails (a missing directory to create, a symbolic
//! link to name, or a kernel before 5.6 without `openat2`) a walk of `openat(O_NOFOLLOW)`
//! one component at a time does the same and says precisely what is wrong. Components are
//! plain names (see [`EntryPath`](crate::entry_path::EntryPath)), so neither can leave the root.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::entry_path::join;

/// Why a directory could not be opened.
#[derive(Debug)]
pub(crate) enum ResolveError {
    /// The named prefix is a symbolic link.
    Symlink(Vec<u8>),
    /// The named prefix exists and is not a directory.
    NotADirectory(Vec<u8>),
    /// The named prefix does not exist (and was not to be created).
    Missing(Vec<u8>),
    /// Another error.
    Io(io::Error),
}

/// Resolves directories beneath one root, remembering the last one opened (archive entries
/// mostly come directory by directory).
pub(crate) struct Resolver {
    root: Rc<OwnedFd>,
    use_openat2: bool,
    last: Option<(Vec<Vec<u8>>, Rc<OwnedFd>)>,
}

const DIR_FLAGS: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl Resolver {
    /// A resolver beneath `root` (an open directory).
    pub(crate) fn new(root: OwnedFd) -> Self {
        Resolver {
            root: Rc::new(root),
            use_openat2: true,
            last: None,
        }
    }

    /// The same without `openat2`, to test the walk on kernels that have it.
    #[cfg(test)]
    pub(crate) fn without_openat2(root: OwnedFd) -> Self {
        Resolver {
            use_openat2: false,
            ..Resolver::new(root)
        }
    }

    /// The root directory.
    pub(crate) fn root(&self) -> Rc<OwnedFd> {
        Rc::clone(&self.root)
    }

    /// Forgets the remembered directory: call after removing a directory.
    pub(crate) fn forget(&mut self) {
        self.last = None;
    }

    /// Opens (`O_PATH`) the directory `components` beneath the root, creating missing
    /// directories (mode 0755, owned by the caller) when `create` is set.
    pub(crate) fn dir(
        &mut self,
        components: &[&[u8]],
        create: bool,
    ) -> Result<Rc<OwnedFd>, ResolveError> {
        if components.is_empty() {
            return Ok(self.root());
        }
        if let Some((last, fd)) = &self.last
            && last.len() == components.len()
            && last.iter().zip(components).all(|(a, b)| a == b)
        {
            return Ok(Rc::clone(fd));
        }
        let fd = Rc::new(self.open(components, create)?);
        self.last = Some((
            components.iter().map(|c| c.to_vec()).collect(),
            Rc::clone(&fd),
        ));
        Ok(fd)
    }

    fn open(&mut self, components: &[&[u8]], create: bool) -> Result<OwnedFd, ResolveError> {
        if self.use_openat2 {
            let resolve = ResolveFlags::BENEATH
                | ResolveFlags::NO_SYMLINKS
                | ResolveFlags::NO_MAGICLINKS
                | ResolveFlags::NO_XDEV;
            match rustix::fs::openat2(
                self.root.as_fd(),
                join(components),
                DIR_FLAGS,
                Mode::empty(),
                resolve,
            ) {
                Ok(fd) => return Ok(fd),
                Err(Errno::NOSYS) => self.use_openat2 = false,
                // The walk creates what is missing and names what is wrong.
                Err(_) => {}
            }
        }
        self.walk(components, create)
    }

    fn walk(&self, components: &[&[u8]], create: bool) -> Result<OwnedFd, ResolveError> {
        let mut current: Option<OwnedFd> = None;
        for (i, component) in components.iter().enumerate() {
            let at = match &current {
                Some(fd) => fd.as_fd(),
                None => self.root.as_fd(),
            };
            let prefix = || join(&components[..=i]);
            let next = match rustix::fs::openat(at, *component, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(at, *component, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(ResolveError::Io(e.into())),
                    }
                    rustix::fs::openat(at, *component, DIR_FLAGS, Mode::empty())
                        .map_err(|e| classify(at, component, prefix(), e))?
                }
                Err(e) => return Err(classify(at, component, prefix(), e)),
            };
            current = Some(next);
        }
        match current {
            Some(fd) => Ok(fd),
            None => rustix::fs::openat(self.root.as_fd(), ".", DIR_FLAGS, Mode::empty())
                .map_err(|e| ResolveError::Io(e.into())),
        }
    }
}

/// Turns a failed `openat(O_DIRECTORY | O_NOFOLLOW)` into the reason.
fn classify(at: impl AsFd, name: &[u8], prefix: Vec<u8>, error: Errno) -> ResolveError {
    match error {
        Errno::NOENT => ResolveError::Missing(prefix),
        Errno::NOTDIR | Errno::LOOP => {
            match rustix::fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink => {
                    ResolveError::Symlink(prefix)
                }
                Ok(_) => ResolveError::NotADirectory(prefix),
                Err(e) => ResolveError::Io(e.into()),
            }
        }
        other => ResolveError::Io(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn open_root(path: &std::path::Path) -> OwnedFd {
        rustix::fs::open(path, DIR_FLAGS, Mode::empty()).unwrap()
    }

    fn check(mut resolver: Resolver, root: &std::path::Path) {
        // Creation of missing directories.
        resolver.dir(&[b"a", b"b", b"c"], true).unwrap();
        assert!(root.join("a/b/c").is_dir());
        // A symbolic link on the way, whatever it points at, is named and never followed.
        symlink("/", root.join("a/up")).unwrap();
        symlink("b", root.join("a/inside")).unwrap();
        for (path, at) in [
            (&[&b"a"[..], b"up", b"etc"][..], &b"a/up"[..]),
            (&[b"a", b"inside", b"c"], b"a/inside"),
        ] {
            resolver.forget();
            match resolver.dir(path, true) {
                Err(ResolveError::Symlink(p)) => assert_eq!(p, at),
                other => panic!("expected a symlink error, got {other:?}"),
            }
        }
        assert!(!root.join("a/b/c/etc").exists());
        // A file on the way.
        std::fs::write(root.join("a/file"), b"x").unwrap();
        assert!(matches!(
            resolver.dir(&[b"a", b"file", b"x"], true),
            Err(ResolveError::NotADirectory(p)) if p == b"a/file"
        ));
        // Missing without creation.
        assert!(matches!(
            resolver.dir(&[b"a", b"nope"], false),
            Err(ResolveError::Missing(p)) if p == b"a/nope"
        ));
    }

    #[test]
    fn openat2_refuses_symlinks_and_creates_directories() {
        let dir = tempfile::tempdir().unwrap();
        check(Resolver::new(open_root(dir.path())), dir.path());
    }

    #[test]
    fn walk_refuses_symlinks_and_creates_directories() {
        let dir = tempfile::tempdir().unwrap();
        check(Resolver::without_openat2(open_root(dir.path())), dir.path());
    }
}
