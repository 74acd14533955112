//! Resource quantities (`500m`, `1Gi`, `2e3`): parsing for comparisons and kube's canonical form
//! (used when storing resource lists and when printing tables). The public part is what other
//! crates need to read a quantity as kube's `resource.ParseQuantity` does: [`whole_value`],
//! [`canonical_text`] and [`QUANTITY_ERROR`].

/// What kube answers for a malformed quantity (`resource.ErrFormatWrong`).
pub const QUANTITY_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// Parses a quantity to its value; `None` when it does not follow kube's grammar.
pub(crate) fn parse(s: &str) -> Option<f64> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if let Some(&c) = bytes.first()
        && (c == b'+' || c == b'-')
    {
        negative = c == b'-';
        i = 1;
    }
    let num_start = i;
    let mut seen_dot = false;
    let mut digits = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'0'..=b'9' => digits += 1,
            b'.' if !seen_dot => seen_dot = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    let number: f64 = s[num_start..i].parse().ok()?;
    let suffix = &s[i..];
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => {
            let exp = suffix.strip_prefix(['e', 'E'])?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let exp: i32 = exp.parse().ok()?;
            10f64.powi(exp)
        }
    };
    let value = number * multiplier;
    Some(if negative { -value } else { value })
}

/// Whether a parsed quantity is a whole number.
pub(crate) fn is_integer(value: f64) -> bool {
    value.fract() == 0.0
}

const NANO: i128 = 1_000_000_000;

enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// Parses a quantity exactly, to nano-units (rounded away from zero below one nano-unit),
/// with the format its suffix implies. `None` when malformed or too large to hold.
fn parse_exact(s: &str) -> Option<(i128, Format)> {
    parse(s)?;
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(end);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let mut digits: i128 = 0;
    for c in int_part.bytes().chain(frac_part.bytes()) {
        digits = digits.checked_mul(10)?.checked_add(i128::from(c - b'0'))?;
    }
    let frac = i32::try_from(frac_part.len()).ok()?;
    let (format, numerator, exp10) = match suffix {
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let k = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
                .iter()
                .position(|x| *x == suffix)? as u32
                + 1;
            (
                Format::BinarySi,
                digits.checked_mul(1024i128.checked_pow(k)?)?,
                9 - frac,
            )
        }
        _ => {
            let (format, e) = match suffix {
                "" => (Format::DecimalSi, 0),
                "n" => (Format::DecimalSi, -9),
                "u" => (Format::DecimalSi, -6),
                "m" => (Format::DecimalSi, -3),
                "k" => (Format::DecimalSi, 3),
                "M" => (Format::DecimalSi, 6),
                "G" => (Format::DecimalSi, 9),
                "T" => (Format::DecimalSi, 12),
                "P" => (Format::DecimalSi, 15),
                "E" => (Format::DecimalSi, 18),
                _ => (Format::DecimalExponent, suffix[1..].parse::<i32>().ok()?),
            };
            (format, digits, e.checked_add(9)?.checked_sub(frac)?)
        }
    };
    let nano = if exp10 >= 0 {
        numerator.checked_mul(10i128.checked_pow(u32::try_from(exp10).ok()?)?)?
    } else {
        let div = 10i128
            .checked_pow(u32::try_from(-exp10).ok()?)
            .unwrap_or(i128::MAX);
        let q = numerator / div;
        if numerator % div == 0 { q } else { q + 1 }
    };
    Some((if negative { -nano } else { nano }, format))
}

/// A quantity's value rounded up to a whole number, away from zero, as kube's
/// `Quantity.Value()` (`1.5` → 2, `-0.5` → -1, `1Ki` → 1024, `1e3` → 1000); `None` when the
/// text is not a quantity or is too large to hold.
pub fn whole_value(s: &str) -> Option<i128> {
    let (nano, _) = parse_exact(s)?;
    let whole = nano / NANO;
    Some(if nano % NANO == 0 {
        whole
    } else {
        whole + nano.signum()
    })
}

/// A quantity's value in thousandths rounded up, away from zero, as kube's
/// `Quantity.MilliValue()` (`0.5` → 500, `100m` → 100, `1u` → 1); `None` when the text is not
/// a quantity or is too large to hold.
pub fn milli_value(s: &str) -> Option<i128> {
    const PER_MILLI: i128 = NANO / 1000;
    let (nano, _) = parse_exact(s)?;
    let milli = nano / PER_MILLI;
    Some(if nano % PER_MILLI == 0 {
        milli
    } else {
        milli + nano.signum()
    })
}

/// kube's canonical text of a quantity, as `Quantity.String()` prints it (`1024Mi` → `1Gi`,
/// `0Mi` → `0`, `1000m` → `1`); `None` when the text is not a quantity or is too large to
/// rewrite.
pub fn canonical_text(s: &str) -> Option<String> {
    canonical(s, false)
}

/// kube's canonical form of a quantity (`1000m` → `1`, `1024Mi` → `1Gi`, `0.5` → `500m`);
/// `milli` first rounds up to thousandths, as kube does for resource lists. `None` when the
/// quantity is malformed or too large to rewrite, in which case it is kept as given.
pub(crate) fn canonical(s: &str, milli: bool) -> Option<String> {
    let (mut nano, format) = parse_exact(s)?;
    if milli {
        let step = 1_000_000;
        let rem = nano % step;
        if rem != 0 {
            nano = nano - rem + if nano > 0 { step } else { -step };
        }
    }
    if nano == 0 {
        return Some("0".to_string());
    }
    let sign = if nano < 0 { "-" } else { "" };
    let abs = nano.abs();
    if matches!(format, Format::BinarySi) && abs >= 1024 * NANO && abs % NANO == 0 {
        let mut n = abs / NANO;
        let mut k = 0;
        while k < 6 && n % 1024 == 0 {
            n /= 1024;
            k += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k];
        return Some(format!("{sign}{n}{suffix}"));
    }
    let exponent = matches!(format, Format::DecimalExponent);
    for (e, suffix) in [
        (18, "E"),
        (15, "P"),
        (12, "T"),
        (9, "G"),
        (6, "M"),
        (3, "k"),
        (0, ""),
        (-3, "m"),
        (-6, "u"),
        (-9, "n"),
    ] {
        let unit = 10i128.pow((e + 9) as u32);
        if abs % unit == 0 {
            let mantissa = abs / unit;
            return Some(if exponent && e != 0 {
                format!("{sign}{mantissa}e{e}")
            } else if exponent {
                format!("{sign}{mantissa}")
            } else {
                format!("{sign}{mantissa}{suffix}")
            });
        }
    }
    None
}

/// Rewrites a quantity in place to its canonical form (see [`canonical`]).
pub(crate) fn canonicalize(
    q: &mut k8s_openapi::apimachinery::pkg::api::resource::Quantity,
    milli: bool,
) {
    if let Some(c) = canonical(&q.0, milli) {
        q.0 = c;
    }
}

/// Canonicalizes every quantity of a resource list, rounding up to thousandths.
pub(crate) fn canonicalize_list(
    list: Option<
        &mut std::collections::BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >,
    >,
) {
    for q in list.into_iter().flat_map(|l| l.values_mut()) {
        canonicalize(q, true);
    }
}

/// The canonical text of a quantity given as a JSON string or number, as tables print it; a
/// value that does not parse as a quantity prints as given.
pub(crate) fn canonical_json(v: &serde_json::Value) -> String {
    let raw = match v {
        serde_json::Value::String(s) => s.trim().to_string(),
        serde_json::Value::Null => return "0".into(),
        other => other.to_string(),
    };
    canonical(&raw, false).unwrap_or(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kube_quantities() {
        assert_eq!(parse("1"), Some(1.0));
        assert_eq!(parse("500m"), Some(0.5));
        assert_eq!(parse("1Gi"), Some(1073741824.0));
        assert_eq!(parse("1.5k"), Some(1500.0));
        assert_eq!(parse("2e3"), Some(2000.0));
        assert_eq!(parse("-1"), Some(-1.0));
        assert_eq!(parse(".5"), Some(0.5));
        assert_eq!(parse("1G"), parse("1000M"));
        for bad in ["", "abc", "1x", "1.2.3", "Gi", "1e", "--1", "1 Gi"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert!(is_integer(3.0));
    }

    #[test]
    fn whole_values_round_up_away_from_zero() {
        for (given, want) in [
            ("1", 1),
            ("1.5", 2),
            ("1m", 1),
            ("-0.5", -1),
            ("1Ki", 1024),
            ("100Mi", 100 << 20),
            ("1e3", 1000),
            ("0", 0),
            ("-5Mi", -5 << 20),
        ] {
            assert_eq!(whole_value(given), Some(want), "{given}");
        }
        assert_eq!(whole_value("1Mb"), None);
        assert_eq!(canonical_text("0Mi").as_deref(), Some("0"));
        assert_eq!(canonical_text("-5Mi").as_deref(), Some("-5Mi"));
    }

    #[test]
    fn canonical_forms_match_kube() {
        for (given, want) in [
            ("1000m", "1"),
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("1.5Gi", "1536Mi"),
            ("1000", "1k"),
            ("12345", "12345"),
            ("100Ki", "100Ki"),
            ("512", "512"),
            ("1e3", "1e3"),
            ("1000e-3", "1"),
            ("0", "0"),
            ("-1", "-1"),
            ("2000000", "2M"),
            ("1n", "1n"),
        ] {
            assert_eq!(canonical(given, false).as_deref(), Some(want), "{given}");
        }
        assert_eq!(canonical("1.0001", true).as_deref(), Some("1001m"));
        assert_eq!(canonical("1n", true).as_deref(), Some("1m"));
        assert_eq!(canonical("0.1m", false).as_deref(), Some("100u"));
        assert_eq!(canonical("x", false), None);
        assert_eq!(
            canonical("99999999999999999999999999999999999999E", false),
            None
        );
        assert!(!is_integer(0.5));
    }
}
