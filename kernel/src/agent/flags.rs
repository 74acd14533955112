//! The node agent's command-line values, checked as kube would check them on the Node:
//! `--node-label key=value`, `--node-taint key[=value]:Effect`, and the node name.

use std::fmt;

use kmicro_apimachinery::names;

/// A `--node-label key=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLabel {
    /// The label key (a qualified name).
    pub key: String,
    /// The label value (possibly empty).
    pub value: String,
}

impl NodeLabel {
    /// Parses `key=value`; the key must be a qualified name and the value a label value.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not a label: expected key=value"))?;
        check("label key", key, names::is_qualified_name(key))?;
        check("label value", value, names::is_label_value(value))?;
        Ok(Self {
            key: key.to_string(),
            value: value.to_string(),
        })
    }
}

/// The effect of a taint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaintEffect {
    /// `NoSchedule`: no new pods unless they tolerate it.
    NoSchedule,
    /// `PreferNoSchedule`: avoided by the scheduler when it can.
    PreferNoSchedule,
    /// `NoExecute`: pods that do not tolerate it are evicted.
    NoExecute,
}

impl TaintEffect {
    /// The effect as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSchedule => "NoSchedule",
            Self::PreferNoSchedule => "PreferNoSchedule",
            Self::NoExecute => "NoExecute",
        }
    }
}

impl fmt::Display for TaintEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `--node-taint key=value:Effect` (or `key:Effect`, as `kubectl taint` takes it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeTaint {
    /// The taint key (a qualified name).
    pub key: String,
    /// The value (possibly empty).
    pub value: String,
    /// What the taint does.
    pub effect: TaintEffect,
}

impl NodeTaint {
    /// Parses `key=value:Effect` or `key:Effect`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (spec, effect) = s.rsplit_once(':').ok_or_else(|| {
            format!("{s:?} is not a taint: expected key=value:Effect or key:Effect")
        })?;
        let effect = match effect {
            "NoSchedule" => TaintEffect::NoSchedule,
            "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
            "NoExecute" => TaintEffect::NoExecute,
            other => {
                return Err(format!(
                    "taint {s:?}: effect {other:?} is not one of NoSchedule, PreferNoSchedule, NoExecute"
                ));
            }
        };
        let (key, value) = spec.split_once('=').unwrap_or((spec, ""));
        check("taint key", key, names::is_qualified_name(key))?;
        check("taint value", value, names::is_label_value(value))?;
        Ok(Self {
            key: key.to_string(),
            value: value.to_string(),
            effect,
        })
    }
}

/// The node's name: `--node-name`, else the host name, lower-cased as kubelet does; it must
/// be a DNS subdomain, as every Node name.
pub fn node_name(flag: Option<&str>, hostname: &str) -> Result<String, String> {
    let name = match flag {
        Some(name) => name.to_string(),
        None => hostname.trim().to_ascii_lowercase(),
    };
    let problems = names::is_dns1123_subdomain(&name);
    if problems.is_empty() {
        Ok(name)
    } else {
        Err(format!(
            "node name {name:?} is not valid ({}); pass --node-name",
            problems.join("; ")
        ))
    }
}

fn check(what: &str, value: &str, problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{what} {value:?}: {}", problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let l = NodeLabel::parse("example.com/tier=edge").unwrap();
        assert_eq!(
            (l.key.as_str(), l.value.as_str()),
            ("example.com/tier", "edge")
        );
        assert_eq!(NodeLabel::parse("empty=").unwrap().value, "");
        assert!(
            NodeLabel::parse("novalue")
                .unwrap_err()
                .contains("key=value")
        );
        assert!(
            NodeLabel::parse("bad key=x")
                .unwrap_err()
                .contains("label key")
        );
        assert!(
            NodeLabel::parse("k=bad value")
                .unwrap_err()
                .contains("label value")
        );
    }

    #[test]
    fn taints() {
        let t = NodeTaint::parse("dedicated=edge:NoSchedule").unwrap();
        assert_eq!(
            (t.key.as_str(), t.value.as_str(), t.effect),
            ("dedicated", "edge", TaintEffect::NoSchedule)
        );
        let t = NodeTaint::parse("example.com/gpu:NoExecute").unwrap();
        assert_eq!(
            (t.key.as_str(), t.value.as_str(), t.effect),
            ("example.com/gpu", "", TaintEffect::NoExecute)
        );
        assert!(NodeTaint::parse("k=v").unwrap_err().contains("Effect"));
        assert!(
            NodeTaint::parse("k=v:Sometimes")
                .unwrap_err()
                .contains("Sometimes")
        );
        assert!(
            NodeTaint::parse("=v:NoSchedule")
                .unwrap_err()
                .contains("taint key")
        );
    }

    #[test]
    fn node_names() {
        assert_eq!(node_name(None, "Pi-Kitchen\n").unwrap(), "pi-kitchen");
        assert_eq!(node_name(Some("edge-1"), "ignored").unwrap(), "edge-1");
        assert!(
            node_name(Some("Edge_1"), "x")
                .unwrap_err()
                .contains("--node-name")
        );
        assert!(node_name(None, "").is_err());
    }
}
