//! Image references normalised as Docker and k3s do: `busybox` is
//! `docker.io/library/busybox:latest`, `index.docker.io` is `docker.io`, a reference may carry a
//! tag, a digest (`@sha256:…`) or both.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::Error;

/// The registry of references without a domain.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag of references with neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// A normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The registry host, with its port if any (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// The repository path (`library/busybox`).
    pub repository: String,
    /// The tag; `latest` when the reference named neither tag nor digest.
    pub tag: Option<String>,
    /// The digest, when the reference pinned one.
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// Parses and normalises a reference. Errors name the reference and what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidReference {
            reference: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.is_empty() {
            return Err(invalid("empty"));
        }
        let (name, digest) = match text.rsplit_once('@') {
            Some((name, digest)) => (
                name,
                Some(Digest::parse(digest).map_err(|e| invalid(&e.to_string()))?),
            ),
            None => (text, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(|reason| invalid(&reason))?;
        }
        let (registry, repository) = split_domain(name);
        if registry.is_empty() {
            return Err(invalid("empty registry"));
        }
        check_repository(&repository).map_err(|reason| invalid(&reason))?;
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_owned()),
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, the name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// `registry/repository:tag`, when the reference has a tag.
    pub fn tagged_name(&self) -> Option<String> {
        self.tag
            .as_ref()
            .map(|tag| format!("{}:{tag}", self.name()))
    }

    /// `registry/repository@digest` for a given digest (a "repo digest" as crictl shows them).
    pub fn with_digest_name(&self, digest: &Digest) -> String {
        format!("{}@{digest}", self.name())
    }

    /// The shortest form a Docker user would type: `busybox:latest` for
    /// `docker.io/library/busybox:latest`.
    pub fn familiar(&self) -> String {
        let mut out = if self.registry == DEFAULT_REGISTRY {
            self.repository
                .strip_prefix("library/")
                .filter(|rest| !rest.contains('/'))
                .unwrap_or(&self.repository)
                .to_owned()
        } else {
            self.name()
        };
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest.as_str());
        }
        out
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// Docker's rule: the first path component is a domain when it has a `.` or a `:`, is
/// `localhost`, or has an upper-case letter; otherwise the name is on Docker Hub, and a single
/// component there lives under `library/`.
fn split_domain(name: &str) -> (String, String) {
    let (registry, rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => (DEFAULT_REGISTRY.to_owned(), name.to_owned()),
    };
    let registry = match registry.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DEFAULT_REGISTRY.to_owned(),
        _ => registry,
    };
    let repository = if registry == DEFAULT_REGISTRY && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest
    };
    (registry, repository)
}

/// Path components: `[a-z0-9]+` separated by `.`, `_`, `__` or runs of `-`.
fn check_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("empty repository".to_owned());
    }
    if repository.len() > 255 {
        return Err("repository longer than 255 characters".to_owned());
    }
    for component in repository.split('/') {
        let bytes = component.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let ok = !bytes.is_empty()
            && alnum(bytes[0])
            && alnum(bytes[bytes.len() - 1])
            && bytes
                .iter()
                .all(|&b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
            && !component.contains("..")
            && !component.contains("___")
            && !component.contains("._")
            && !component.contains("_.")
            && !component.contains(".-")
            && !component.contains("-.")
            && !component.contains("_-")
            && !component.contains("-_");
        if !ok {
            return Err(format!(
                "repository component {component:?} must be lower-case letters and digits separated by `.`, `_`, `__` or `-`"
            ));
        }
    }
    Ok(())
}

/// Tags: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), String> {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if bytes.is_empty()
        || bytes.len() > 128
        || !word(bytes[0])
        || !bytes.iter().all(|&b| word(b) || matches!(b, b'.' | b'-'))
    {
        return Err(format!(
            "tag {tag:?} must be 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> String {
        ImageRef::parse(text).unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("rancher/k3s"), "docker.io/rancher/k3s:latest");
        assert_eq!(
            norm("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(norm("localhost/foo"), "localhost/foo:latest");
        assert_eq!(norm("127.0.0.1:5000/a/b:v1"), "127.0.0.1:5000/a/b:v1");
        assert_eq!(norm("ghcr.io/x/y"), "ghcr.io/x/y:latest");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            norm(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            norm(&format!("busybox:1@{d}")),
            format!("docker.io/library/busybox:1@{d}")
        );
        assert_eq!(
            ImageRef::parse("docker.io/library/busybox:1")
                .unwrap()
                .familiar(),
            "busybox:1"
        );
        assert_eq!(
            ImageRef::parse("rancher/k3s:v1").unwrap().familiar(),
            "rancher/k3s:v1"
        );
    }

    #[test]
    fn refuses_bad_references() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox@sha256:12",
            "a//b",
            "busybox:-x",
            "foo/.bar",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad} accepted");
        }
        let err = ImageRef::parse("busybox@sha512:00")
            .unwrap_err()
            .to_string();
        assert!(err.contains("busybox@sha512:00"), "{err}");
    }
}
