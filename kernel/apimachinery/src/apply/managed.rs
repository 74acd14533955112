//! `metadata.managedFields`: who set which fields, with what operation, and when; read from
//! and written to objects in kube's wire form.

use serde_json::{Map, Value, json};

use super::set::FieldSet;
use crate::text::{go_printable, go_quote};

/// kube's limit on the number of `Update` entries; older ones are merged into one.
const MAX_UPDATE_MANAGERS: usize = 10;

/// The manager the oldest `Update` entries are merged into past [`MAX_UPDATE_MANAGERS`].
const ANCIENT_CHANGES: &str = "ancient-changes";

/// kube's limit on the length of a field manager's name.
const MAX_MANAGER_LEN: usize = 128;

/// How a manager changed the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Server-side apply: the manager owns exactly what it last applied.
    Apply,
    /// Create, update or patch: the manager owns what it changed.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// The identity of an entry: kube keeps one entry per manager name, operation and
/// subresource, and per API version for `Update` entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manager {
    /// The name (`kubectl`, `kubectl-client-side-apply`, a controller's name).
    pub name: String,
    /// Apply or Update.
    pub operation: Operation,
    /// The API version of the request (`apps/v1`).
    pub api_version: String,
    /// The subresource written (`status`, `scale`), or "".
    pub subresource: String,
}

impl Manager {
    /// Whether `entry` is this manager's.
    pub(crate) fn is(&self, entry: &Entry) -> bool {
        entry.manager.name == self.name
            && entry.manager.operation == self.operation
            && entry.manager.subresource == self.subresource
            && (self.operation == Operation::Apply || entry.manager.api_version == self.api_version)
    }

    /// The manager as kube names it in conflicts: `"kubectl"`, with `with subresource "x"`,
    /// and `using apps/v1` for updaters.
    pub fn describe(&self) -> String {
        let mut out = go_quote(&self.name);
        if !self.subresource.is_empty() {
            out.push_str(&format!(
                " with subresource {}",
                go_quote(&self.subresource)
            ));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Whose entry.
    pub manager: Manager,
    /// When the manager last changed the object (RFC 3339), if known.
    pub time: Option<String>,
    /// The fields the manager owns.
    pub fields: FieldSet,
}

/// The managed fields of an object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManagedFields {
    /// The entries, in no particular order (written in kube's order).
    pub entries: Vec<Entry>,
}

/// What a create or update request says about managedFields.
pub enum Requested {
    /// Nothing usable (absent, or invalid): the stored entries carry on.
    Keep,
    /// `[]` or `[{}]`: start afresh.
    Reset,
    /// Valid entries, which replace the stored ones.
    Set(ManagedFields),
}

impl ManagedFields {
    /// The entries of `obj`'s `metadata.managedFields` (none when absent).
    pub fn read(obj: &Value) -> Result<Self, String> {
        match obj.get("metadata").and_then(|m| m.get("managedFields")) {
            None | Some(Value::Null) => Ok(Self::default()),
            Some(Value::Array(items)) => {
                let mut out = Self::default();
                for (i, item) in items.iter().enumerate() {
                    let entry =
                        decode_entry(item).map_err(|e| format!("managedFields[{i}]: {e}"))?;
                    // A repeated identity replaces the earlier entry, as kube decodes them.
                    out.entries.retain(|e| !entry.manager.is(e));
                    out.entries.push(entry);
                }
                Ok(out)
            }
            Some(_) => Err("managedFields must be a list".into()),
        }
    }

    /// What a request body's `metadata.managedFields` asks for.
    pub fn requested(obj: &Value) -> Requested {
        match obj.get("metadata").and_then(|m| m.get("managedFields")) {
            Some(Value::Array(items)) if items.is_empty() => Requested::Reset,
            Some(Value::Array(items))
                if items.len() == 1 && items[0].as_object().is_some_and(Map::is_empty) =>
            {
                Requested::Reset
            }
            _ => match Self::read(obj) {
                Ok(set) if !set.entries.is_empty() => Requested::Set(set),
                _ => Requested::Keep,
            },
        }
    }

    /// The entry of `manager`.
    pub fn get(&self, manager: &Manager) -> Option<&Entry> {
        self.entries.iter().find(|e| manager.is(e))
    }

    /// Sets `manager`'s fields and time, creating its entry (and taking the API version).
    pub(crate) fn set(&mut self, manager: &Manager, fields: FieldSet, time: Option<String>) {
        self.entries.retain(|e| !manager.is(e));
        self.entries.push(Entry {
            manager: manager.clone(),
            time,
            fields,
        });
    }

    /// Drops entries that own nothing and merges the oldest `Update` entries past kube's
    /// limit into one `ancient-changes` entry per API version.
    pub(crate) fn tidy(&mut self) {
        self.entries.retain(|e| !e.fields.is_empty());
        loop {
            let mut updaters: Vec<usize> = (0..self.entries.len())
                .filter(|&i| {
                    self.entries[i].manager.operation == Operation::Update
                        && self.entries[i].manager.name != ANCIENT_CHANGES
                })
                .collect();
            let buckets = self
                .entries
                .iter()
                .filter(|e| e.manager.name == ANCIENT_CHANGES)
                .count();
            if updaters.len() + buckets <= MAX_UPDATE_MANAGERS || updaters.is_empty() {
                return;
            }
            updaters.sort_by(|&a, &b| {
                let (a, b) = (&self.entries[a], &self.entries[b]);
                (&a.time, &a.manager.name).cmp(&(&b.time, &b.manager.name))
            });
            let oldest = self.entries.remove(updaters[0]);
            let bucket = Manager {
                name: ANCIENT_CHANGES.into(),
                operation: Operation::Update,
                api_version: oldest.manager.api_version.clone(),
                subresource: String::new(),
            };
            let fields = match self.get(&bucket) {
                Some(existing) => existing.fields.union(&oldest.fields),
                None => oldest.fields,
            };
            self.set(&bucket, fields, oldest.time);
        }
    }

    /// Writes the entries into `obj`'s metadata in kube's order (operation, time, manager,
    /// API version, subresource); no entries, no field.
    pub fn write(&self, obj: &mut Value) {
        let Some(obj) = obj.as_object_mut() else {
            return;
        };
        if self.entries.is_empty() {
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
            return;
        }
        let meta = obj.entry("metadata").or_insert_with(|| json!({}));
        let Some(meta) = meta.as_object_mut() else {
            return;
        };
        let mut entries: Vec<&Entry> = self.entries.iter().collect();
        entries.sort_by(|a, b| {
            (
                a.manager.operation,
                &a.time,
                &a.manager.name,
                &a.manager.api_version,
                &a.manager.subresource,
            )
                .cmp(&(
                    b.manager.operation,
                    &b.time,
                    &b.manager.name,
                    &b.manager.api_version,
                    &b.manager.subresource,
                ))
        });
        let list = entries.into_iter().map(encode_entry).collect();
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

fn decode_entry(item: &Value) -> Result<Entry, String> {
    let text = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or_default();
    let operation = match text("operation") {
        "Apply" => Operation::Apply,
        "Update" => Operation::Update,
        _ => return Err("operation must be `Apply` or `Update`".into()),
    };
    if text("apiVersion").is_empty() {
        return Err("apiVersion must not be empty".into());
    }
    match text("fieldsType") {
        "FieldsV1" => {}
        "" => return Err("missing fieldsType".into()),
        other => return Err(format!("invalid fieldsType {other:?}")),
    }
    let fields = FieldSet::from_fields_v1(item.get("fieldsV1").unwrap_or(&json!({})))?;
    Ok(Entry {
        manager: Manager {
            name: text("manager").into(),
            operation,
            api_version: text("apiVersion").into(),
            subresource: text("subresource").into(),
        },
        time: item.get("time").and_then(Value::as_str).map(str::to_string),
        fields,
    })
}

fn encode_entry(entry: &Entry) -> Value {
    let mut out = Map::new();
    out.insert("manager".into(), json!(entry.manager.name));
    out.insert("operation".into(), json!(entry.manager.operation.as_str()));
    out.insert("apiVersion".into(), json!(entry.manager.api_version));
    if let Some(time) = &entry.time {
        out.insert("time".into(), json!(time));
    }
    out.insert("fieldsType".into(), json!("FieldsV1"));
    out.insert("fieldsV1".into(), entry.fields.to_fields_v1());
    if !entry.manager.subresource.is_empty() {
        out.insert("subresource".into(), json!(entry.manager.subresource));
    }
    Value::Object(out)
}

/// The manager of a request that names none: the User-Agent up to its first `/`, without
/// unprintable characters, cut at 128 bytes (`kubectl-edit/v1.32.5 (linux/amd64)` →
/// `kubectl-edit`), as kube derives it.
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let prefix = user_agent.split('/').next().unwrap_or_default();
    let mut out = String::new();
    for c in prefix.chars().filter(|&c| go_printable(c)) {
        if out.len() + c.len_utf8() > MAX_MANAGER_LEN {
            break;
        }
        out.push(c);
    }
    out
}

/// Checks a `fieldManager` query parameter as kube does; the errors are the causes' messages
/// (field `fieldManager`).
pub fn check_manager_name(name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if name.len() > MAX_MANAGER_LEN {
        errors.push(format!(
            "Too long: may not be more than {MAX_MANAGER_LEN} bytes"
        ));
    }
    for (i, c) in name.chars().enumerate() {
        if !go_printable(c) {
            errors.push(format!(
                "Invalid value: {}: invalid character {} (at position {i})",
                go_quote(name),
                go_rune(c)
            ));
        }
    }
    errors
}

/// A rune as Go's `%#U` writes it: `U+0001`, or `U+00E9 'é'` when printable.
fn go_rune(c: char) -> String {
    if go_printable(c) {
        format!("U+{:04X} '{c}'", c as u32)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, op: &str, time: &str) -> Value {
        json!({"manager": name, "operation": op, "apiVersion": "v1", "time": time,
               "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:x": {}}}})
    }

    #[test]
    fn entries_round_trip_in_kubes_order() {
        let mut obj = json!({"metadata": {"managedFields": [
            entry("b", "Update", "2024-01-01T00:00:02Z"),
            entry("a", "Update", "2024-01-01T00:00:01Z"),
            entry("z", "Apply", "2024-01-01T00:00:09Z"),
        ]}});
        let managed = ManagedFields::read(&obj).unwrap();
        managed.write(&mut obj);
        let names: Vec<&str> = obj["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["z", "a", "b"]);
    }

    #[test]
    fn requests_reset_keep_or_set() {
        let with = |mf: Value| json!({"metadata": {"managedFields": mf}});
        assert!(matches!(
            ManagedFields::requested(&with(json!([]))),
            Requested::Reset
        ));
        assert!(matches!(
            ManagedFields::requested(&with(json!([{}]))),
            Requested::Reset
        ));
        assert!(matches!(
            ManagedFields::requested(&json!({"metadata": {}})),
            Requested::Keep
        ));
        assert!(matches!(
            ManagedFields::requested(&with(json!([{"manager": "x", "operation": "Nope"}]))),
            Requested::Keep
        ));
        let one = with(json!([entry("a", "Update", "t")]));
        assert!(
            matches!(ManagedFields::requested(&one), Requested::Set(m) if m.entries.len() == 1)
        );
    }

    #[test]
    fn old_updaters_merge_into_ancient_changes() {
        let mut managed = ManagedFields::default();
        for i in 0..12 {
            let manager = Manager {
                name: format!("m{i:02}"),
                operation: Operation::Update,
                api_version: "v1".into(),
                subresource: String::new(),
            };
            let mut fields = FieldSet::default();
            fields.insert(&[super::super::path::PathElement::field(&format!("f{i}"))]);
            managed.set(&manager, fields, Some(format!("2024-01-01T00:00:{i:02}Z")));
        }
        managed.tidy();
        assert_eq!(managed.entries.len(), 10);
        let ancient = managed
            .entries
            .iter()
            .find(|e| e.manager.name == ANCIENT_CHANGES)
            .unwrap();
        assert_eq!(ancient.fields.paths().len(), 3);
    }

    #[test]
    fn managers_from_user_agents_and_their_checks() {
        assert_eq!(
            manager_from_user_agent("kubectl-edit/v1.32.5 (linux/amd64) kubernetes/x"),
            "kubectl-edit"
        );
        assert_eq!(manager_from_user_agent("a\u{1}b"), "ab");
        assert_eq!(manager_from_user_agent(&"x".repeat(200)).len(), 128);
        assert!(check_manager_name("kubectl").is_empty());
        assert_eq!(
            check_manager_name("a\u{1}"),
            ["Invalid value: \"a\\x01\": invalid character U+0001 (at position 1)"]
        );
        let describe = |op, sub: &str| {
            Manager {
                name: "kubectl".into(),
                operation: op,
                api_version: "apps/v1".into(),
                subresource: sub.into(),
            }
            .describe()
        };
        assert_eq!(
            describe(Operation::Update, "scale"),
            r#""kubectl" with subresource "scale" using apps/v1"#
        );
        assert_eq!(describe(Operation::Apply, ""), r#""kubectl""#);
    }
}
