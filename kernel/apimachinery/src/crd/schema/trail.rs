//! Where in an object a value is: the structured form of kube's field paths, so that a path
//! can be printed (`spec.ports[0].name`) and also followed into another version of the object.

use std::fmt;

use serde_json::Value;

/// One step into a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A key of an object.
    Key(String),
    /// An element of an array.
    Index(usize),
}

/// A path from an object's root: keys joined by `.`, elements as `[i]`, as kube-openapi names
/// the values it validates (`spec.containers[0].image`, `spec.labels.app`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trail(Vec<Seg>);

impl Trail {
    /// The object itself.
    pub fn root() -> Self {
        Self::default()
    }

    /// From steps, for paths that are not built by walking a value.
    pub fn from_segs(segs: Vec<Seg>) -> Self {
        Self(segs)
    }

    /// The value under `key` of the object here.
    pub fn key(&self, key: &str) -> Self {
        let mut next = self.0.clone();
        next.push(Seg::Key(key.to_string()));
        Self(next)
    }

    /// Element `i` of the array here.
    pub fn index(&self, i: usize) -> Self {
        let mut next = self.0.clone();
        next.push(Seg::Index(i));
        Self(next)
    }

    /// The value this path leads to in `root`, if it is there.
    pub fn follow<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        self.0.iter().try_fold(root, |v, seg| match seg {
            Seg::Key(k) => v.get(k),
            Seg::Index(i) => v.get(i),
        })
    }
}

impl fmt::Display for Trail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn prints_like_kube_and_follows_values() {
        let t = Trail::root().key("spec").key("ports").index(0).key("name");
        assert_eq!(t.to_string(), "spec.ports[0].name");
        let obj = json!({"spec": {"ports": [{"name": "http"}]}});
        assert_eq!(t.follow(&obj), Some(&json!("http")));
        assert_eq!(Trail::root().key("nope").follow(&obj), None);
        assert_eq!(Trail::root().to_string(), "");
    }
}
