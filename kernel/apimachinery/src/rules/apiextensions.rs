//! `apiextensions.k8s.io/v1` CustomResourceDefinitions: kube's defaults, create and update
//! preparation (status reset, stored versions) and validation (`ValidateCustomResourceDefinition`
//! and its update rules), with the schema rules in [`crate::crd::structural`].

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceConversion, CustomResourceDefinition,
    CustomResourceDefinitionNames, CustomResourceDefinitionSpec, CustomResourceDefinitionStatus,
    CustomResourceDefinitionVersion, CustomResourceSubresources,
};

use super::Kind;
use super::field::{Bad, Errors, Path};
use crate::crd::{names, structural};
use crate::names as dns;

/// The printer column types kube accepts, sorted as its messages list them.
const COLUMN_TYPES: &[&str] = &["boolean", "date", "integer", "number", "string"];
/// The printer column formats kube accepts, sorted as its messages list them.
const COLUMN_FORMATS: &[&str] = &[
    "byte",
    "date",
    "date-time",
    "double",
    "float",
    "int32",
    "int64",
    "password",
];
/// The annotation approving a CRD in a protected (`*.k8s.io`, `*.kubernetes.io`) group.
const API_APPROVED: &str = "api-approved.kubernetes.io";

impl Kind for CustomResourceDefinition {
    fn set_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.names = names::with_defaults(&spec.names);
        spec.conversion
            .get_or_insert_with(|| CustomResourceConversion {
                strategy: "None".into(),
                webhook: None,
            });
        spec.preserve_unknown_fields.get_or_insert(false);
        let status = self.status.get_or_insert_with(Default::default);
        if status.stored_versions.as_ref().is_none_or(Vec::is_empty)
            && let Some(v) = spec.versions.iter().find(|v| v.storage)
        {
            status.stored_versions = Some(vec![v.name.clone()]);
        }
        status.accepted_names.get_or_insert_with(Default::default);
        status.conditions.get_or_insert_with(Vec::new);
    }

    fn on_create(&mut self) {
        self.status = Some(CustomResourceDefinitionStatus::default());
        self.metadata.generation = Some(1);
        add_storage_version(self);
    }

    fn on_update(&mut self, old: &Self) {
        self.status = old.status.clone();
        add_storage_version(self);
    }

    fn validate(&self, errs: &mut Errors) {
        let name = self.metadata.name.as_deref().unwrap_or("");
        if name != format!("{}.{}", self.spec.names.plural, self.spec.group) {
            errs.invalid(
                &Path::new("metadata").child("name"),
                name,
                r#"must be spec.names.plural+"."+spec.group"#,
            );
        }
        validate_approval(self, errs);
        validate_spec(&self.spec, &Path::new("spec"), errs);
        let status = self.status.clone().unwrap_or_default();
        let sp = Path::new("status");
        if let Some(accepted) = &status.accepted_names {
            validate_names(accepted, &sp.child("acceptedNames"), errs);
        }
        validate_stored_versions(
            status.stored_versions.as_deref().unwrap_or_default(),
            &self.spec.versions,
            &sp.child("storedVersions"),
            errs,
        );
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let sp = Path::new("spec");
        if names::condition_true(old, names::ESTABLISHED) {
            if self.spec.scope != old.spec.scope {
                errs.immutable(&sp.child("scope"), &self.spec.scope);
            }
            if self.spec.names.kind != old.spec.names.kind {
                errs.immutable(&sp.child("names").child("kind"), &self.spec.names.kind);
            }
        }
        if self.spec.group != old.spec.group {
            errs.immutable(&sp.child("group"), &self.spec.group);
        }
        if self.spec.names.plural != old.spec.names.plural {
            errs.immutable(&sp.child("names").child("plural"), &self.spec.names.plural);
        }
    }
}

/// Adds the storage version to `status.storedVersions` if it is not there yet.
fn add_storage_version(crd: &mut CustomResourceDefinition) {
    let Some(storage) = crd
        .spec
        .versions
        .iter()
        .find(|v| v.storage)
        .map(|v| v.name.clone())
    else {
        return;
    };
    let stored = crd
        .status
        .get_or_insert_with(Default::default)
        .stored_versions
        .get_or_insert_with(Vec::new);
    if !stored.contains(&storage) {
        stored.push(storage);
    }
}

/// Groups of the Kubernetes project need an approval annotation.
fn validate_approval(crd: &CustomResourceDefinition, errs: &mut Errors) {
    let group = crd.spec.group.as_str();
    let protected = ["k8s.io", "kubernetes.io"]
        .iter()
        .any(|g| group == *g || group.ends_with(&format!(".{g}")));
    if !protected {
        return;
    }
    let path = Path::new("metadata").child("annotations").key(API_APPROVED);
    let see = "see https://github.com/kubernetes/enhancements/pull/1111";
    match crd.metadata.annotations.as_ref().and_then(|a| a.get(API_APPROVED)) {
        None => errs.required(
            &path,
            &format!("protected groups must have approval annotation {API_APPROVED:?}, {see}"),
        ),
        Some(v) if v.starts_with("unapproved") || v.starts_with("https://") || v.starts_with("http://") => {}
        Some(v) => errs.invalid(
            &path,
            v,
            &format!(
                "protected groups must have approval annotation {API_APPROVED:?} with either a URL or a reason starting with \"unapproved\", {see}"
            ),
        ),
    }
}

/// A required value that must be one of `accepted` (kube's `validateEnumStrings`).
fn enum_string(path: &Path, value: &str, accepted: &[&str], errs: &mut Errors) {
    if value.is_empty() {
        errs.required(path, "");
    } else if !accepted.contains(&value) {
        errs.not_supported(path, value, accepted);
    }
}

fn validate_spec(spec: &CustomResourceDefinitionSpec, path: &Path, errs: &mut Errors) {
    let gp = path.child("group");
    if spec.group.is_empty() {
        errs.required(&gp, "");
    } else {
        let msgs = dns::is_dns1123_subdomain(&spec.group);
        if !msgs.is_empty() {
            errs.invalid(&gp, &spec.group, &msgs.join(","));
        } else if !spec.group.contains('.') {
            errs.invalid(&gp, &spec.group, "should be a domain with at least one dot");
        }
    }
    enum_string(
        &path.child("scope"),
        &spec.scope,
        &["Cluster", "Namespaced"],
        errs,
    );
    let vp = path.child("versions");
    let mut seen: Vec<&str> = Vec::new();
    let mut unique = true;
    for (i, v) in spec.versions.iter().enumerate() {
        if seen.contains(&v.name.as_str()) {
            unique = false;
        }
        seen.push(&v.name);
        validate_version(v, &vp.index(i), errs);
    }
    if !unique {
        errs.invalid(
            &vp,
            Bad::json(&spec.versions),
            "must contain unique version names",
        );
    }
    if spec.versions.iter().filter(|v| v.storage).count() != 1 {
        errs.invalid(
            &vp,
            Bad::json(&spec.versions),
            "must have exactly one version marked as storage version",
        );
    }
    let np = path.child("names");
    validate_names(&spec.names, &np, errs);
    for (field, empty) in [
        ("plural", spec.names.plural.is_empty()),
        (
            "singular",
            spec.names.singular.as_deref().unwrap_or("").is_empty(),
        ),
        ("kind", spec.names.kind.is_empty()),
        (
            "listKind",
            spec.names.list_kind.as_deref().unwrap_or("").is_empty(),
        ),
    ] {
        if empty {
            errs.required(&np.child(field), "");
        }
    }
    if let Some(conversion) = &spec.conversion {
        let cp = path.child("conversion");
        enum_string(
            &cp.child("strategy"),
            &conversion.strategy,
            &["None", "Webhook"],
            errs,
        );
        let webhook = conversion.webhook.as_ref();
        if conversion.strategy == "Webhook" {
            match webhook {
                None => errs.required(
                    &cp.child("webhookClientConfig"),
                    "required when strategy is set to Webhook",
                ),
                Some(w) if w.conversion_review_versions.is_empty() => errs.required(
                    &cp.child("conversionReviewVersions"),
                    "must include at least one of v1, v1beta1",
                ),
                Some(_) => {}
            }
        } else if webhook.is_some_and(|w| w.client_config.is_some()) {
            errs.forbidden(
                &cp.child("webhookClientConfig"),
                "should not be set when strategy is not set to Webhook",
            );
        }
    }
    if spec.preserve_unknown_fields == Some(true) {
        errs.invalid(
            &path.child("preserveUnknownFields"),
            true,
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        );
    }
}

fn validate_version(v: &CustomResourceDefinitionVersion, path: &Path, errs: &mut Errors) {
    let msgs = dns::is_dns1035_label(&v.name);
    if !msgs.is_empty() {
        errs.invalid(&path.child("name"), &v.name, &msgs.join(","));
    }
    if let Some(warning) = &v.deprecation_warning {
        let wp = path.child("deprecationWarning");
        if v.deprecated != Some(true) {
            errs.invalid(&wp, warning, "can only be set for deprecated versions");
        }
        if warning.len() > 256 {
            errs.too_long(&wp, 256);
        }
        if warning.chars().any(|c| c.is_control()) {
            errs.invalid(&wp, warning, "must only contain printable UTF-8 characters");
        }
    }
    let status = v.subresources.as_ref().is_some_and(|s| s.status.is_some());
    structural::validate_version_schema(v.schema.as_ref(), status, &path.child("schema"), errs);
    if let Some(subresources) = &v.subresources {
        validate_subresources(subresources, &path.child("subresources"), errs);
    }
    for (i, column) in v.additional_printer_columns.iter().flatten().enumerate() {
        validate_column(
            column,
            &path.child("additionalPrinterColumns").index(i),
            errs,
        );
    }
}

fn validate_names(names: &CustomResourceDefinitionNames, path: &Path, errs: &mut Errors) {
    let label = |errs: &mut Errors, field: Path, value: &str| {
        let msgs = dns::is_dns1035_label(value);
        if !value.is_empty() && !msgs.is_empty() {
            errs.invalid(&field, value, &msgs.join(","));
        }
    };
    let kind_like = |errs: &mut Errors, field: Path, value: &str| {
        let msgs = dns::is_dns1035_label(&value.to_lowercase());
        if !value.is_empty() && !msgs.is_empty() {
            errs.invalid(
                &field,
                value,
                &format!(
                    "may have mixed case, but should otherwise match: {}",
                    msgs.join(",")
                ),
            );
        }
    };
    label(errs, path.child("plural"), &names.plural);
    label(
        errs,
        path.child("singular"),
        names.singular.as_deref().unwrap_or(""),
    );
    kind_like(errs, path.child("kind"), &names.kind);
    let list_kind = names.list_kind.as_deref().unwrap_or("");
    kind_like(errs, path.child("listKind"), list_kind);
    for (i, short) in names.short_names.iter().flatten().enumerate() {
        let msgs = dns::is_dns1035_label(short);
        if !msgs.is_empty() {
            errs.invalid(&path.child("shortNames").index(i), short, &msgs.join(","));
        }
    }
    if !names.kind.is_empty() && names.kind == list_kind {
        errs.invalid(
            &path.child("listKind"),
            list_kind,
            "kind and listKind cannot be the same (this would cause ambiguity)",
        );
    }
    for (i, category) in names.categories.iter().flatten().enumerate() {
        let msgs = dns::is_dns1035_label(category);
        if !msgs.is_empty() {
            errs.invalid(
                &path.child("categories").index(i),
                category,
                &msgs.join(","),
            );
        }
    }
}

/// kube's `validateSimpleJSONPath`.
fn simple_json_path(path: &Path, value: &str, errs: &mut Errors) -> bool {
    if value.is_empty() {
        errs.invalid(path, value, "must not be empty");
        false
    } else if !value.starts_with('.') {
        errs.invalid(path, value, "must be a simple json path starting with .");
        false
    } else {
        true
    }
}

fn validate_subresources(s: &CustomResourceSubresources, path: &Path, errs: &mut Errors) {
    let Some(scale) = &s.scale else { return };
    let spec_path = path.child("scale.specReplicasPath");
    if scale.spec_replicas_path.is_empty() {
        errs.required(&spec_path, "");
    } else if simple_json_path(&spec_path, &scale.spec_replicas_path, errs)
        && !scale.spec_replicas_path.starts_with(".spec.")
    {
        errs.invalid(
            &spec_path,
            &scale.spec_replicas_path,
            "should be a json path under .spec",
        );
    }
    let status_path = path.child("scale.statusReplicasPath");
    if scale.status_replicas_path.is_empty() {
        errs.required(&status_path, "");
    } else if simple_json_path(&status_path, &scale.status_replicas_path, errs)
        && !scale.status_replicas_path.starts_with(".status.")
    {
        errs.invalid(
            &status_path,
            &scale.status_replicas_path,
            "should be a json path under .status",
        );
    }
    if let Some(selector) = scale
        .label_selector_path
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        let selector_path = path.child("scale.labelSelectorPath");
        if simple_json_path(&selector_path, selector, errs)
            && !selector.starts_with(".spec.")
            && !selector.starts_with(".status.")
        {
            errs.invalid(
                &selector_path,
                selector,
                "should be a json path under either .spec or .status",
            );
        }
    }
}

fn validate_column(c: &CustomResourceColumnDefinition, path: &Path, errs: &mut Errors) {
    if c.name.is_empty() {
        errs.required(&path.child("name"), "");
    }
    let must = format!("must be one of {}", COLUMN_TYPES.join(","));
    if c.type_.is_empty() {
        errs.required(&path.child("type"), &must);
    } else if !COLUMN_TYPES.contains(&c.type_.as_str()) {
        errs.invalid(&path.child("type"), &c.type_, &must);
    }
    if let Some(format) = c.format.as_deref().filter(|f| !f.is_empty())
        && !COLUMN_FORMATS.contains(&format)
    {
        errs.invalid(
            &path.child("format"),
            format,
            &format!("must be one of {}", COLUMN_FORMATS.join(",")),
        );
    }
    let jp = path.child("JSONPath");
    if c.json_path.is_empty() {
        errs.required(&jp, "");
    } else {
        simple_json_path(&jp, &c.json_path, errs);
    }
}

/// kube's `ValidateCustomResourceDefinitionStoredVersions`.
fn validate_stored_versions(
    stored: &[String],
    versions: &[CustomResourceDefinitionVersion],
    path: &Path,
    errs: &mut Errors,
) {
    if stored.is_empty() {
        errs.invalid(
            path,
            Bad::json(stored),
            "must have at least one stored version",
        );
        return;
    }
    for v in versions {
        if v.storage && !stored.contains(&v.name) {
            errs.invalid(
                path,
                Bad::json(v),
                &format!("must have the storage version {}", v.name),
            );
        }
    }
    for (i, s) in stored.iter().enumerate() {
        if !versions.iter().any(|v| &v.name == s) {
            errs.invalid(&path.index(i), s, "must appear in spec.versions");
        }
    }
}
