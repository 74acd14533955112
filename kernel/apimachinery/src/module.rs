//! `modules.kmicro.io/v1alpha1` `Module`: a control-plane WebAssembly component the kernel
//! runs, as an API object (cluster-scoped, with `status`, `source` and `log` subresources).
//!
//! ```yaml
//! apiVersion: modules.kmicro.io/v1alpha1
//! kind: Module
//! metadata: {name: scheduler}
//! spec:
//!   source: {digest: "sha256:<64 hex>"}   # or {builtin: true}; set by PUT …/source
//!   config: {}                            # free-form object given to the module's init
//!   limits: {memory: 32Mi, callTimeout: 1s, hostCallsPerSecond: 200}   # defaulted
//!   permissions: [{apiGroups: [""], resources: [pods], verbs: [get, list, watch]}]
//! status: {phase: Running, observedGeneration: 1, version: "0.1.0", digest: "sha256:…",
//!          restarts: 0, memoryBytes: 1310720, lastError: "", lastSwapPauseMicros: 80,
//!          conditions: [{type: Ready, status: "True"}]}
//! ```
//!
//! The types here are what the server decodes a Module into (so defaulting and validation work
//! on typed fields, see `rules`) and what the kernel's supervisor reads.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The API group of modules.
pub const GROUP: &str = "modules.kmicro.io";
/// The served version.
pub const VERSION: &str = "v1alpha1";
/// `group/version`.
pub const API_VERSION: &str = "modules.kmicro.io/v1alpha1";
/// The kind.
pub const KIND: &str = "Module";
/// The resource's plural name.
pub const PLURAL: &str = "modules";

/// The annotation `kmicro module swap` sets (to a fresh RFC 3339 timestamp) to swap in the
/// same source again; the kernel answers in `status.observedSwapRequest`.
pub const SWAP_REQUEST_ANNOTATION: &str = "modules.kmicro.io/swap-requested-at";
/// The start of `status.lastError` when the kernel refused a swap (the old version runs on).
pub const SWAP_REFUSED: &str = "swap refused: ";

/// `spec.limits.memory` when unset.
pub const DEFAULT_MEMORY: &str = "32Mi";
/// `spec.limits.callTimeout` when unset.
pub const DEFAULT_CALL_TIMEOUT: &str = "1s";
/// `spec.limits.hostCallsPerSecond` when unset.
pub const DEFAULT_HOST_CALLS_PER_SECOND: i64 = 200;
/// The largest `spec.limits.memory`: a wasm32 linear memory cannot address more.
pub const MAX_MEMORY_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// The longest `spec.limits.callTimeout`.
pub const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(600);
/// The largest `spec.limits.hostCallsPerSecond`.
pub const MAX_HOST_CALLS_PER_SECOND: i64 = 1_000_000;

/// The verbs a module's permission may name (`*` for all).
pub const PERMISSION_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "*",
];

/// One Module object. Decoding refuses another `apiVersion` or `kind` (absent ones are
/// taken as this kind's).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "Unchecked")]
pub struct Module {
    /// `modules.kmicro.io/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// `Module`.
    #[serde(default)]
    pub kind: String,
    /// Standard object metadata; the name is the module's name.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What to run and how.
    #[serde(default)]
    pub spec: ModuleSpec,
    /// What the kernel reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ModuleStatus>,
}

/// A Module as decoded, before its `apiVersion` and `kind` are checked.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Unchecked {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: ModuleSpec,
    #[serde(default)]
    status: Option<ModuleStatus>,
}

impl TryFrom<Unchecked> for Module {
    type Error = String;

    fn try_from(raw: Unchecked) -> Result<Self, String> {
        let api_version = raw.api_version.unwrap_or_else(|| API_VERSION.into());
        let kind = raw.kind.unwrap_or_else(|| KIND.into());
        if api_version != API_VERSION || kind != KIND {
            return Err(format!(
                "expected {API_VERSION}, Kind={KIND}, got {api_version}, Kind={kind}"
            ));
        }
        Ok(Self {
            api_version,
            kind,
            metadata: raw.metadata,
            spec: raw.spec,
            status: raw.status,
        })
    }
}

impl k8s_openapi::Resource for Module {
    const API_VERSION: &'static str = API_VERSION;
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = KIND;
    const VERSION: &'static str = VERSION;
    const URL_PATH_SEGMENT: &'static str = PLURAL;
    type Scope = k8s_openapi::ClusterResourceScope;
}

impl k8s_openapi::Metadata for Module {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// `spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleSpec {
    /// Where the component's bytes come from; empty until a source is uploaded.
    #[serde(default)]
    pub source: ModuleSource,
    /// Free-form configuration given to the module's `init` (`{}` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Map<String, Value>>,
    /// Resource limits (defaulted).
    #[serde(default)]
    pub limits: ModuleLimits,
    /// The API access granted, in RBAC PolicyRule shape. Unset until the kernel fills it from
    /// the module's own manifest at its first load; may then be narrowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<ModulePolicyRule>>,
}

impl ModuleSpec {
    /// The configuration as the JSON text `init` receives (`{}` when unset).
    pub fn config_json(&self) -> String {
        match &self.config {
            Some(map) => Value::Object(map.clone()).to_string(),
            None => "{}".to_string(),
        }
    }
}

/// `spec.source`: at most one of `digest` and `builtin`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleSource {
    /// `sha256:<64 lower-case hex>` of a component stored by the API server (set by `PUT
    /// modules/<name>/source`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The module embedded in the kmicro binary under the object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<bool>,
}

impl ModuleSource {
    /// Whether this names one of the kernel's built-in modules.
    pub fn is_builtin(&self) -> bool {
        self.builtin == Some(true)
    }
}

/// `spec.limits`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleLimits {
    /// The most memory the module's instance may use, a quantity (`32Mi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// The longest one call into the module may run, a Go duration (`1s`, `250ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_timeout: Option<String>,
    /// How many API calls per second the module may make.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_calls_per_second: Option<i64>,
}

impl ModuleLimits {
    /// `memory` in bytes, if set and valid.
    pub fn memory_bytes(&self) -> Option<u64> {
        self.memory.as_deref().and_then(memory_bytes)
    }

    /// `callTimeout`, if set and valid.
    pub fn call_timeout(&self) -> Option<Duration> {
        self.call_timeout
            .as_deref()
            .and_then(crate::duration::parse_duration)
    }
}

/// One rule of `spec.permissions`: the shape of an RBAC PolicyRule (and of the WIT world's
/// `policy-rule`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModulePolicyRule {
    /// API groups (`""` for core, `*` for all).
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// Resources, subresources as `pods/binding` (`*` for all).
    #[serde(default)]
    pub resources: Vec<String>,
    /// Verbs ([`PERMISSION_VERBS`]).
    #[serde(default)]
    pub verbs: Vec<String>,
}

/// `status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleStatus {
    /// [`ModulePhase`] as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The generation of the spec the kernel last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The running module's own version (its descriptor's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The digest of the running component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// How often the module was restarted after a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<i64>,
    /// The instance's memory (linear memories and tables), in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<i64>,
    /// The last failure (a trap, an error from `init`, a refused component).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// How long the last hot swap paused event delivery, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_swap_pause_micros: Option<i64>,
    /// The value of the swap-request annotation ([`SWAP_REQUEST_ANNOTATION`]) the kernel last
    /// acted on: swapped, or refused (then `lastError` starts with [`SWAP_REFUSED`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_swap_request: Option<String>,
    /// Conditions (`Ready`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<ModuleCondition>>,
}

/// One condition of `status.conditions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleCondition {
    /// `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// Where a module is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModulePhase {
    /// Accepted; no source yet, or not yet picked up.
    Pending,
    /// Being loaded and initialised.
    Starting,
    /// Initialised and handling events.
    Running,
    /// Failed; restarting after a back-off.
    BackOff,
    /// Cannot run (a component that does not instantiate); waits for a new spec.
    Failed,
}

impl ModulePhase {
    /// Every phase, in life order.
    pub const ALL: [ModulePhase; 5] = [
        Self::Pending,
        Self::Starting,
        Self::Running,
        Self::BackOff,
        Self::Failed,
    ];

    /// The phase as `status.phase` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Starting => "Starting",
            Self::Running => "Running",
            Self::BackOff => "BackOff",
            Self::Failed => "Failed",
        }
    }

    /// The phase `text` names, if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// Whether `digest` is `sha256:` followed by 64 lower-case hexadecimal digits.
pub fn is_valid_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// A memory quantity in bytes (rounded up); `None` for a malformed or negative quantity.
pub fn memory_bytes(quantity: &str) -> Option<u64> {
    let value = crate::quantity::parse(quantity)?;
    if !value.is_finite() || value < 0.0 || value > u64::MAX as f64 {
        return None;
    }
    Some(value.ceil() as u64)
}

/// A byte count as the MEMORY column prints it: binary units with one decimal below ten
/// (`512`, `12Ki`, `1.2Mi`, `64Mi`, `1.5Gi`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["Ki", "Mi", "Gi", "Ti"];
    if bytes < 1024 {
        return bytes.to_string();
    }
    let mut value = bytes as f64;
    let mut unit = "";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    let text = if value < 10.0 {
        let one_decimal = format!("{value:.1}");
        one_decimal
            .strip_suffix(".0")
            .map(str::to_string)
            .unwrap_or(one_decimal)
    } else {
        format!("{value:.0}")
    };
    format!("{text}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        let good = format!("sha256:{}", "ab".repeat(32));
        assert!(is_valid_digest(&good));
        assert!(!is_valid_digest(&good.to_uppercase()));
        assert!(!is_valid_digest("sha256:abc"));
        assert!(!is_valid_digest(&format!("sha512:{}", "ab".repeat(32))));
    }

    #[test]
    fn memory_quantities() {
        assert_eq!(memory_bytes("32Mi"), Some(32 << 20));
        assert_eq!(memory_bytes("1G"), Some(1_000_000_000));
        assert_eq!(memory_bytes("1.5Ki"), Some(1536));
        assert_eq!(memory_bytes("-1Mi"), None);
        assert_eq!(memory_bytes("lots"), None);
    }

    #[test]
    fn human_byte_counts() {
        assert_eq!(human_bytes(512), "512");
        assert_eq!(human_bytes(1310720), "1.2Mi");
        assert_eq!(human_bytes(64 << 20), "64Mi");
        assert_eq!(human_bytes(12 * 1024 + 100), "12Ki");
        assert_eq!(human_bytes(3 << 29), "1.5Gi");
        assert_eq!(human_bytes(1 << 20), "1Mi");
    }

    #[test]
    fn phases_round_trip() {
        for phase in ModulePhase::ALL {
            assert_eq!(ModulePhase::parse(phase.as_str()), Some(phase));
        }
        assert_eq!(ModulePhase::parse("Crashed"), None);
    }

    #[test]
    fn config_defaults_to_an_empty_object() {
        let mut spec = ModuleSpec::default();
        assert_eq!(spec.config_json(), "{}");
        spec.config = Some(serde_json::from_str(r#"{"a":1}"#).unwrap());
        assert_eq!(spec.config_json(), r#"{"a":1}"#);
    }
}
