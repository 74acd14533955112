//! Sets of fields: which paths of an object a manager owns, as a trie, and its `fieldsV1`
//! encoding (a JSON object per node, `"."` marking the node itself as a member).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::path::{Path, PathElement};

/// A set of paths. A path is in the set when its last element is a member of the node its
/// other elements lead to; a node may have children without being a member itself
/// (`f:spec` in `{"f:spec": {"f:replicas": {}}}`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    /// Never holds an empty set.
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds a path (the empty path, the whole object, is not a member of anything: ignored).
    pub fn insert(&mut self, path: &Path) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether the path is in the set.
    pub fn contains(&self, path: &Path) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Whether the set owns `path`: holds it, or (for a field) holds something beneath it.
    /// structured-merge-diff counts a struct field as owned by whoever owns part of it.
    pub fn owns(&self, path: &Path) -> bool {
        if self.contains(path) {
            return true;
        }
        matches!(path.last(), Some(PathElement::Field(_))) && self.subtree(path).is_some()
    }

    /// The node a path leads to, if the set has anything beneath it.
    fn subtree(&self, path: &Path) -> Option<&FieldSet> {
        match path {
            [] => Some(self),
            [first, rest @ ..] => self.children.get(first)?.subtree(rest),
        }
    }

    /// The paths in both sets.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (elem, child) in &other.children {
            let merged = match out.children.get(elem) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(elem.clone(), merged);
        }
        out
    }

    /// The paths of `self` that are not in `other` (paths beneath a removed one stay).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (elem, child) in &self.children {
            let rest = match other.children.get(elem) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                children.insert(elem.clone(), rest);
            }
        }
        FieldSet { members, children }
    }

    /// The paths in both `self` and `other`.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (elem, child) in &self.children {
            if let Some(theirs) = other.children.get(elem) {
                let both = child.intersection(theirs);
                if !both.is_empty() {
                    children.insert(elem.clone(), both);
                }
            }
        }
        FieldSet { members, children }
    }

    /// `self` without the paths of `other` and without everything beneath them.
    pub fn without_subtrees(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (elem, child) in &self.children {
            if other.members.contains(elem) {
                continue;
            }
            let rest = match other.children.get(elem) {
                Some(theirs) => child.without_subtrees(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                children.insert(elem.clone(), rest);
            }
        }
        FieldSet { members, children }
    }

    /// Only the paths at or beneath the top-level field `name`.
    pub fn only_field(&self, name: &str) -> FieldSet {
        let elem = PathElement::field(name);
        let mut out = FieldSet::default();
        if self.members.contains(&elem) {
            out.members.insert(elem.clone());
        }
        if let Some(child) = self.children.get(&elem) {
            out.children.insert(elem, child.clone());
        }
        out
    }

    /// Every path in the set, members of a node before its children's, as
    /// structured-merge-diff iterates them.
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for member in &self.members {
            let mut path = prefix.clone();
            path.push(member.clone());
            out.push(path);
        }
        for (elem, child) in &self.children {
            prefix.push(elem.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The `fieldsV1` JSON of the set.
    pub fn to_fields_v1(&self) -> Value {
        let mut nodes: BTreeMap<PathElement, (bool, Option<&FieldSet>)> = BTreeMap::new();
        for member in &self.members {
            nodes.entry(member.clone()).or_default().0 = true;
        }
        for (elem, child) in &self.children {
            nodes.entry(elem.clone()).or_default().1 = Some(child);
        }
        let mut out = Map::new();
        for (elem, (member, child)) in nodes {
            let mut node = match child.map(FieldSet::to_fields_v1) {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            };
            if member && !node.is_empty() {
                let mut with_dot = Map::new();
                with_dot.insert(".".into(), Value::Object(Map::new()));
                with_dot.extend(node);
                node = with_dot;
            }
            out.insert(elem.encode(), Value::Object(node));
        }
        Value::Object(out)
    }

    /// Parses `fieldsV1` JSON.
    pub fn from_fields_v1(json: &Value) -> Result<FieldSet, String> {
        let Value::Object(map) = json else {
            return Err("fieldsV1 must be an object".into());
        };
        let mut set = FieldSet::default();
        for (key, node) in map {
            if key == "." {
                continue;
            }
            let elem = PathElement::decode(key)?;
            let Value::Object(inner) = node else {
                return Err(format!("fieldsV1 node {key:?} must be an object"));
            };
            let child = FieldSet::from_fields_v1(node)?;
            if inner.is_empty() || inner.contains_key(".") {
                set.members.insert(elem.clone());
            }
            if !child.is_empty() {
                set.children.insert(elem, child);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn set(json: Value) -> FieldSet {
        FieldSet::from_fields_v1(&json).unwrap()
    }

    #[test]
    fn fields_v1_round_trips_with_members_and_children() {
        let json = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}
                }}}
            }
        });
        let s = set(json.clone());
        assert_eq!(s.to_fields_v1(), json);
        assert!(s.contains(&[PathElement::field("spec"), PathElement::field("replicas")]));
        assert!(!s.contains(&[PathElement::field("spec")]));
        assert!(s.owns(&[PathElement::field("spec")]));
        assert_eq!(s.paths().len(), 6);
    }

    #[test]
    fn set_algebra() {
        let a = set(json!({"f:a": {}, "f:b": {"f:c": {}, "f:d": {}}}));
        let b = set(json!({"f:b": {".": {}, "f:c": {}}}));
        assert_eq!(
            a.union(&b),
            set(json!({"f:a": {}, "f:b": {".": {}, "f:c": {}, "f:d": {}}}))
        );
        assert_eq!(
            a.difference(&b),
            set(json!({"f:a": {}, "f:b": {"f:d": {}}}))
        );
        assert_eq!(a.intersection(&b), set(json!({"f:b": {"f:c": {}}})));
        assert_eq!(a.without_subtrees(&b), set(json!({"f:a": {}})));
        assert_eq!(
            a.only_field("b"),
            set(json!({"f:b": {"f:c": {}, "f:d": {}}}))
        );
        assert!(a.difference(&a).is_empty());
    }

    #[test]
    fn bad_fields_v1_is_an_error() {
        assert!(FieldSet::from_fields_v1(&json!([])).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"x:a": {}})).is_err());
    }
}
