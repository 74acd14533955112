//! Kube-aware ordering of version names, as kube-apiserver orders a CustomResourceDefinition's
//! versions in discovery: GA before beta before alpha, higher numbers first (`v2`, `v1`,
//! `v1beta2`, `v1beta1`, `v1alpha1`), then names that do not look like Kubernetes versions in
//! alphabetical order.

use std::cmp::Ordering;

/// The stage of a Kubernetes-like version.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Alpha,
    Beta,
    Ga,
}

/// `(major, stage, minor)` of `v<major>[(alpha|beta)<minor>]`.
fn parse(v: &str) -> Option<(u64, Stage, u64)> {
    let rest = v.strip_prefix('v')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let major: u64 = rest[..digits].parse().ok()?;
    let rest = &rest[digits..];
    if rest.is_empty() {
        return Some((major, Stage::Ga, 0));
    }
    let (stage, minor) = if let Some(m) = rest.strip_prefix("alpha") {
        (Stage::Alpha, m)
    } else {
        (Stage::Beta, rest.strip_prefix("beta")?)
    };
    if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((major, stage, minor.parse().ok()?))
}

/// `Less` when `a` comes before `b` (has the higher priority).
pub fn compare(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (Some((ma, sa, na)), Some((mb, sb, nb))) => sb.cmp(&sa).then(mb.cmp(&ma)).then(nb.cmp(&na)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_aware_order() {
        let mut v = vec![
            "foo",
            "v1alpha1",
            "v1",
            "v1beta1",
            "v2",
            "v1beta2",
            "v10",
            "bar",
            "v11alpha2",
        ];
        v.sort_by(|a, b| compare(a, b));
        assert_eq!(
            v,
            [
                "v10",
                "v2",
                "v1",
                "v1beta2",
                "v1beta1",
                "v11alpha2",
                "v1alpha1",
                "bar",
                "foo"
            ]
        );
    }
}
