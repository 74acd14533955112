//! `modules.kmicro.io/v1alpha1` Module: limits defaulted; source, limits, permissions and
//! status checked with kube-style field errors.

use crate::module::{
    self, DEFAULT_CALL_TIMEOUT, DEFAULT_HOST_CALLS_PER_SECOND, DEFAULT_MEMORY, MAX_CALL_TIMEOUT,
    MAX_HOST_CALLS_PER_SECOND, MAX_MEMORY_BYTES, Module, ModuleLimits, ModulePhase,
    ModulePolicyRule, ModuleSource, ModuleStatus, PERMISSION_VERBS,
};
use crate::quantity::QUANTITY_ERROR;

use super::Kind;
use super::field::{Errors, Path};
use super::meta::NameRule;

/// What a digest must look like.
const DIGEST_FORMAT: &str = "must be \"sha256:\" followed by 64 lower-case hexadecimal digits";

impl Kind for Module {
    // The name becomes the user `system:module:<name>` and names built-in modules.
    const NAME_RULE: NameRule = NameRule::Label;

    fn set_defaults(&mut self) {
        let limits = &mut self.spec.limits;
        limits.memory.get_or_insert_with(|| DEFAULT_MEMORY.into());
        limits
            .call_timeout
            .get_or_insert_with(|| DEFAULT_CALL_TIMEOUT.into());
        limits
            .host_calls_per_second
            .get_or_insert(DEFAULT_HOST_CALLS_PER_SECOND);
        if self.spec.source.builtin == Some(false) {
            self.spec.source.builtin = None;
        }
    }

    fn on_create(&mut self) {
        self.status = None;
    }

    fn validate(&self, errs: &mut Errors) {
        let spec = Path::new("spec");
        validate_source(&self.spec.source, &spec.child("source"), errs);
        validate_limits(&self.spec.limits, &spec.child("limits"), errs);
        if let Some(rules) = &self.spec.permissions {
            let path = spec.child("permissions");
            for (i, rule) in rules.iter().enumerate() {
                validate_rule(rule, &path.index(i), errs);
            }
        }
        if let Some(status) = &self.status {
            validate_status(status, &Path::new("status"), errs);
        }
    }
}

fn validate_source(source: &ModuleSource, path: &Path, errs: &mut Errors) {
    if let Some(digest) = &source.digest
        && !module::is_valid_digest(digest)
    {
        errs.invalid(&path.child("digest"), digest, DIGEST_FORMAT);
    }
    if source.digest.is_some() && source.is_builtin() {
        errs.forbidden(
            &path.child("builtin"),
            "may not be set together with `digest`",
        );
    }
}

fn validate_limits(limits: &ModuleLimits, path: &Path, errs: &mut Errors) {
    if let Some(memory) = &limits.memory {
        let at = path.child("memory");
        match module::memory_bytes(memory) {
            None if crate::quantity::parse(memory).is_none() => {
                errs.invalid(&at, memory, QUANTITY_ERROR)
            }
            None | Some(0) => errs.invalid(&at, memory, "must be greater than zero"),
            Some(bytes) if bytes > MAX_MEMORY_BYTES => {
                errs.invalid(&at, memory, "must be at most 4Gi")
            }
            Some(_) => {}
        }
    }
    if let Some(timeout) = &limits.call_timeout {
        let at = path.child("callTimeout");
        match crate::duration::parse_duration(timeout) {
            None => errs.invalid(
                &at,
                timeout,
                "must be a duration such as \"1s\" or \"250ms\"",
            ),
            Some(d) if d.is_zero() => errs.invalid(&at, timeout, "must be greater than zero"),
            Some(d) if d > MAX_CALL_TIMEOUT => errs.invalid(&at, timeout, "must be at most 10m"),
            Some(_) => {}
        }
    }
    if let Some(rate) = limits.host_calls_per_second {
        let at = path.child("hostCallsPerSecond");
        if rate < 1 {
            errs.invalid(&at, rate, "must be greater than zero");
        } else if rate > MAX_HOST_CALLS_PER_SECOND {
            errs.invalid(&at, rate, "must be at most 1000000");
        }
    }
}

fn validate_rule(rule: &ModulePolicyRule, path: &Path, errs: &mut Errors) {
    if rule.api_groups.is_empty() {
        errs.required(
            &path.child("apiGroups"),
            "at least one apiGroup is required (\"\" for the core group)",
        );
    }
    if rule.resources.is_empty() {
        errs.required(
            &path.child("resources"),
            "at least one resource is required",
        );
    }
    let verbs = path.child("verbs");
    if rule.verbs.is_empty() {
        errs.required(&verbs, "at least one verb is required");
    }
    for (i, verb) in rule.verbs.iter().enumerate() {
        if !PERMISSION_VERBS.contains(&verb.as_str()) {
            errs.not_supported(&verbs.index(i), verb, PERMISSION_VERBS);
        }
    }
    for (i, resource) in rule.resources.iter().enumerate() {
        if resource.is_empty() {
            errs.required(&path.child("resources").index(i), "");
        }
    }
}

fn validate_status(status: &ModuleStatus, path: &Path, errs: &mut Errors) {
    if let Some(phase) = &status.phase
        && ModulePhase::parse(phase).is_none()
    {
        let supported: Vec<&str> = ModulePhase::ALL.iter().map(|p| p.as_str()).collect();
        errs.not_supported(&path.child("phase"), phase, &supported);
    }
    if let Some(digest) = &status.digest
        && !module::is_valid_digest(digest)
    {
        errs.invalid(&path.child("digest"), digest, DIGEST_FORMAT);
    }
    errs.non_negative(
        &path.child("observedGeneration"),
        status.observed_generation,
    );
    errs.non_negative(&path.child("restarts"), status.restarts);
    errs.non_negative(&path.child("memoryBytes"), status.memory_bytes);
    errs.non_negative(
        &path.child("lastSwapPauseMicros"),
        status.last_swap_pause_micros,
    );
    for (i, condition) in status.conditions.iter().flatten().enumerate() {
        let at = path.child("conditions").index(i);
        if condition.type_.is_empty() {
            errs.required(&at.child("type"), "");
        }
        if !matches!(condition.status.as_str(), "True" | "False" | "Unknown") {
            errs.not_supported(
                &at.child("status"),
                &condition.status,
                &["False", "True", "Unknown"],
            );
        }
    }
}
