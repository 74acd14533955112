//! Resource quantities in kube's canonical form (`Quantity.String()`): what `10Gi`, `1536Mi`,
//! `0.5` (→ `500m`) or `1000` (→ `1k`) print as. kube stores quantities canonicalised, so its
//! tables show this form whatever the client wrote.

use serde_json::Value;

/// The canonical text of a quantity given as a JSON string or number; a value that does not
/// parse as a quantity (or overflows this implementation) prints as given.
pub(crate) fn canonical(v: &Value) -> String {
    let raw = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Null => return "0".into(),
        other => other.to_string(),
    };
    canonicalize(&raw).unwrap_or(raw)
}

/// How a quantity was written, which decides how it prints.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `1e3`.
    DecimalExponent,
    /// `1k`, `500m`, plain numbers.
    DecimalSI,
    /// `1Ki`, `5Gi`.
    BinarySI,
}

/// The exponent of ten of each decimal SI suffix.
const DECIMAL_SUFFIXES: &[(&str, i32)] = &[
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

/// Binary suffixes, by power of 1024.
const BINARY_SUFFIXES: &[&str] = &["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

fn canonicalize(s: &str) -> Option<String> {
    if s == "0" {
        return Some("0".into());
    }
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (int_part, rest) = rest.split_at(int_len);
    let (frac_part, suffix) = match rest.strip_prefix('.') {
        Some(after) => after.split_at(after.bytes().take_while(u8::is_ascii_digit).count()),
        None => ("", rest),
    };
    // value = mantissa × 10^exp10 × 2^exp2
    let (format, mut exp10, exp2) = interpret(suffix)?;
    // An empty number is zero, as in kube ("Gi" parses).
    let digits = format!("0{int_part}{frac_part}");
    let mut mantissa: u128 = digits.parse().ok()?;
    exp10 = exp10.checked_sub(i32::try_from(frac_part.len()).ok()?)?;
    if mantissa == 0 {
        return Some("0".into());
    }
    mantissa = mantissa.checked_mul(1u128.checked_shl(exp2)?)?;
    if mantissa.leading_zeros() == 0 {
        return None;
    }

    // Quantities are kept to nanos: anything finer rounds up (away from zero).
    if exp10 < -9 {
        let divisor = 10u128.checked_pow(u32::try_from(-9 - exp10).ok()?)?;
        mantissa = mantissa.div_ceil(divisor);
        exp10 = -9;
    }
    while mantissa.is_multiple_of(10) {
        mantissa /= 10;
        exp10 += 1;
    }

    let sign = if negative { "-" } else { "" };
    if format == Format::BinarySI && exp10 >= 0 {
        let value = mantissa.checked_mul(10u128.checked_pow(exp10.unsigned_abs())?)?;
        if value >= 1024 {
            let (mut amount, mut power) = (value, 0usize);
            while amount.is_multiple_of(1024) && power + 1 < BINARY_SUFFIXES.len() {
                amount /= 1024;
                power += 1;
            }
            return Some(format!("{sign}{amount}{}", BINARY_SUFFIXES[power]));
        }
    }

    // Decimal: the exponent goes down to a multiple of three.
    let shift = exp10.rem_euclid(3);
    mantissa = mantissa.checked_mul(10u128.pow(shift.unsigned_abs()))?;
    exp10 -= shift;
    let suffix = if format == Format::DecimalExponent {
        if exp10 == 0 {
            String::new()
        } else {
            format!("e{exp10}")
        }
    } else {
        DECIMAL_SUFFIXES
            .iter()
            .find(|(_, e)| *e == exp10)?
            .0
            .to_string()
    };
    Some(format!("{sign}{mantissa}{suffix}"))
}

/// The format and the exponents of ten and two that a suffix stands for.
fn interpret(suffix: &str) -> Option<(Format, i32, u32)> {
    if let Some((_, e)) = DECIMAL_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Some((Format::DecimalSI, *e, 0));
    }
    if let Some(power) = BINARY_SUFFIXES[1..].iter().position(|s| *s == suffix) {
        return Some((Format::BinarySI, 0, 10 * (power as u32 + 1)));
    }
    let exponent = suffix.strip_prefix(['e', 'E'])?;
    Some((Format::DecimalExponent, exponent.parse().ok()?, 0))
}
