//! Platforms (`linux/arm/v7`) and how a multi-arch index entry is chosen for one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// An OS, CPU architecture and (on ARM) variant, with OCI's names.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, `arm`, …
    pub architecture: String,
    /// `v7`, `v8`, …; `None` when the image does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this binary was compiled for (`linux/amd64`, `linux/arm64`, `linux/arm/v7`).
    pub fn current() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" if cfg!(target_feature = "v7") => ("arm", Some("v7")),
            "arm" => ("arm", Some("v6")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "riscv64" => ("riscv64", None),
            "s390x" => ("s390x", None),
            other => (other, None),
        };
        Self {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// Parses `os/arch[/variant]` (`linux/arm/v7`).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = text.split('/').collect();
        let invalid = || Error::InvalidPlatform {
            platform: text.to_owned(),
        };
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Self {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(Self {
                    os: os.to_string(),
                    architecture: arch.to_string(),
                    variant: Some(variant.to_string()),
                })
            }
            _ => Err(invalid()),
        }
    }

    /// How well an image for `candidate` runs here: `Some(0)` for an exact match, larger for
    /// older compatible variants (an arm/v7 board runs arm/v6 and arm/v5 images), `None` when
    /// it does not run. Architectures and variants are normalised as containerd does
    /// (`aarch64` is `arm64`, no variant on arm64 is `v8`, on arm is `v7`).
    pub fn rank(&self, candidate: &Platform) -> Option<u32> {
        if !self.os.eq_ignore_ascii_case(&candidate.os) {
            return None;
        }
        let (want_arch, want_variant) = normalise(&self.architecture, self.variant.as_deref());
        let (have_arch, have_variant) =
            normalise(&candidate.architecture, candidate.variant.as_deref());
        if want_arch != have_arch {
            return None;
        }
        if want_variant == have_variant {
            return Some(0);
        }
        if want_arch == "arm" {
            let level = |v: &str| v.strip_prefix('v').and_then(|n| n.parse::<u32>().ok());
            if let (Some(want), Some(have)) = (level(&want_variant), level(&have_variant))
                && have < want
            {
                return Some(want - have);
            }
        }
        None
    }
}

fn normalise(architecture: &str, variant: Option<&str>) -> (String, String) {
    let architecture = architecture.to_ascii_lowercase();
    let variant = variant.unwrap_or("").to_ascii_lowercase();
    match architecture.as_str() {
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), String::new()),
        "aarch64" | "arm64" => (
            "arm64".into(),
            if variant == "8" || variant.is_empty() {
                "v8".into()
            } else {
                variant
            },
        ),
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => (
            "arm".into(),
            match variant.as_str() {
                "" | "7" => "v7".into(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            },
        ),
        "i386" | "i686" | "386" => ("386".into(), String::new()),
        _ => (architecture, variant),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Platform {
        Platform::parse(text).unwrap()
    }

    #[test]
    fn ranks_variants_like_containerd() {
        assert_eq!(p("linux/arm/v7").rank(&p("linux/arm/v7")), Some(0));
        assert_eq!(p("linux/arm/v7").rank(&p("linux/arm")), Some(0));
        assert_eq!(p("linux/arm/v7").rank(&p("linux/arm/v6")), Some(1));
        assert_eq!(p("linux/arm/v6").rank(&p("linux/arm/v7")), None);
        assert_eq!(p("linux/arm/v7").rank(&p("linux/arm64/v8")), None);
        assert_eq!(p("linux/arm64").rank(&p("linux/arm64/v8")), Some(0));
        assert_eq!(p("linux/amd64").rank(&p("linux/amd64")), Some(0));
        assert_eq!(p("linux/amd64").rank(&p("windows/amd64")), None);
    }

    #[test]
    fn current_is_a_linux_platform() {
        let here = Platform::current();
        assert_eq!(here.os, "linux");
        assert_eq!(here.rank(&here), Some(0));
    }
}
