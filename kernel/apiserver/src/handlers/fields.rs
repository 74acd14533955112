//! Field validation of writes (`fieldValidation=Strict|Warn|Ignore`, Warn when absent): the
//! fields a kind's schema does not know and the keys a body repeats are refused, warned about
//! or dropped as kube-apiserver does, and unknown fields are never stored whatever the
//! directive. The schema is the one managedFields use ([`managed::Structure`]): built-in kinds'
//! from `kmicro-openapi`, a custom resource version's own, "anything" for the others (only
//! repeated keys are found there).

use kmicro_apimachinery::field_validation::{
    self, FieldProblem, FieldValidation, ShownPatch, check_json, prune_unknown,
};
use serde_json::Value;

use super::write::Patch;
use super::{Ctx, managed};
use crate::error::{ApiError, ApiResult};

/// The request's `fieldValidation` directive; an unknown value is kube's 422 naming the verb's
/// options (`CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: …`).
pub(super) fn directive(ctx: &Ctx<'_>) -> ApiResult<FieldValidation> {
    let value = ctx.query.field_validation.as_deref().unwrap_or_default();
    FieldValidation::parse(value)
        .map_err(|cause| ApiError::invalid_options(managed::options_kind(ctx), vec![cause]))
}

/// Checks a create or update `body` (and `obj`, its decoded form) per the directive, then
/// removes unknown fields from `obj`. Strict: 400 `<Kind> in version "<v>" cannot be handled
/// as a <Kind>: strict decoding error: …`; Warn: a warning per problem; Ignore: silence.
/// Problems are found on the body in document order when it is JSON, else on `obj`.
pub(super) fn check_object(ctx: &Ctx<'_>, body: &[u8], obj: &mut Value) -> ApiResult<()> {
    let directive = directive(ctx)?;
    let r = ctx.resource();
    let structure = managed::Structure::of(ctx);
    let (schemas, root) = structure.get();
    let unknown = prune_unknown(obj, schemas, root);
    if directive == FieldValidation::Ignore {
        return Ok(());
    }
    let problems = check_json(body, schemas, Some(root)).unwrap_or(unknown);
    report(ctx, directive, &problems, || {
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {}",
            field_validation::strict_decoding_error(&problems),
            kind = r.kind,
            version = r.version,
        ))
    })
}

/// Checks a patched object per the directive, then removes its unknown fields. Problems are
/// the keys a merge or strategic patch `body` repeats, then the unknown fields of `patched`.
/// Strict: kube's 422 ` "" is invalid: patch: Invalid value: …`; Warn: a warning per problem.
pub(super) fn check_patched(
    ctx: &Ctx<'_>,
    patch: &Patch,
    body: &[u8],
    patched: &mut Value,
) -> ApiResult<()> {
    let directive = directive(ctx)?;
    let shown = (directive == FieldValidation::Strict).then(|| patched.clone());
    let structure = managed::Structure::of(ctx);
    let (schemas, root) = structure.get();
    let unknown = prune_unknown(patched, schemas, root);
    if directive == FieldValidation::Ignore {
        return Ok(());
    }
    let mut problems = match patch {
        Patch::Merge(_) | Patch::Strategic(_) => {
            check_json(body, schemas, None).unwrap_or_default()
        }
        Patch::Json(_) => Vec::new(),
    };
    problems.extend(unknown);
    report(ctx, directive, &problems, || {
        let shown = match patch {
            Patch::Strategic(p) => ShownPatch::Strategic(p.value()),
            Patch::Merge(_) | Patch::Json(_) => {
                ShownPatch::Result(shown.as_ref().unwrap_or(patched))
            }
        };
        let cause = field_validation::strict_patch_cause(shown, &problems);
        ApiError::invalid_other("", "", "", vec![cause])
    })
}

/// Acts on the problems found: Strict refuses with `refusal`, Warn warns, Ignore is silent.
fn report(
    ctx: &Ctx<'_>,
    directive: FieldValidation,
    problems: &[FieldProblem],
    refusal: impl FnOnce() -> ApiError,
) -> ApiResult<()> {
    if problems.is_empty() {
        return Ok(());
    }
    match directive {
        FieldValidation::Strict => Err(refusal()),
        FieldValidation::Warn => {
            for problem in problems {
                ctx.warnings.add(problem.to_string());
            }
            Ok(())
        }
        FieldValidation::Ignore => Ok(()),
    }
}
