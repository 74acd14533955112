//! Archive entry names checked and split into plain components.

use crate::error::Refusal;

/// An entry name as a list of plain components: no `..`, no `/`, no empty or `.` parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryPath<'a> {
    components: Vec<&'a [u8]>,
}

impl<'a> EntryPath<'a> {
    /// Splits an entry name (`./a//b/` is `a/b`). Absolute names and `..` components are
    /// refused: nothing in a layer may name a place outside it. The one absolute name allowed
    /// is `/` alone, the root, which umoci writes for the layer's root directory.
    pub(crate) fn parse(name: &'a [u8]) -> Result<Self, Refusal> {
        let is_root = name
            .split(|&b| b == b'/')
            .all(|c| c.is_empty() || c == b".");
        if name.first() == Some(&b'/') && !is_root {
            return Err(Refusal::AbsolutePath);
        }
        let mut components = Vec::new();
        for component in name.split(|&b| b == b'/') {
            match component {
                b"" | b"." => {}
                b".." => return Err(Refusal::DotDot),
                plain => components.push(plain),
            }
        }
        Ok(EntryPath { components })
    }

    /// The directories leading to the entry.
    pub(crate) fn parent(&self) -> &[&'a [u8]] {
        match self.components.split_last() {
            Some((_, parent)) => parent,
            None => &[],
        }
    }

    /// The entry's own name; `None` for the root.
    pub(crate) fn file_name(&self) -> Option<&'a [u8]> {
        self.components.last().copied()
    }

    /// All components.
    pub(crate) fn components(&self) -> &[&'a [u8]] {
        &self.components
    }
}

/// The components joined with `/`, for messages and path-based calls.
pub(crate) fn join(components: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, component) in components.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(component);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_split() {
        let path = EntryPath::parse(b"./usr//bin/./sh").unwrap();
        assert_eq!(path.components(), [&b"usr"[..], b"bin", b"sh"]);
        assert_eq!(path.parent(), [&b"usr"[..], b"bin"]);
        assert_eq!(path.file_name(), Some(&b"sh"[..]));
        assert_eq!(EntryPath::parse(b"./").unwrap().file_name(), None);
        assert_eq!(EntryPath::parse(b"/").unwrap().file_name(), None);
        assert_eq!(join(path.components()), b"usr/bin/sh");
    }

    #[test]
    fn escapes_are_refused() {
        assert_eq!(EntryPath::parse(b"/etc/passwd"), Err(Refusal::AbsolutePath));
        assert_eq!(EntryPath::parse(b"../x"), Err(Refusal::DotDot));
        assert_eq!(EntryPath::parse(b"a/../../x"), Err(Refusal::DotDot));
        assert_eq!(EntryPath::parse(b"a/.."), Err(Refusal::DotDot));
        // `...` and `..x` are ordinary names.
        assert!(EntryPath::parse(b"a/.../..x").is_ok());
    }
}
