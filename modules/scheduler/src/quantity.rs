//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2e3`) as integers, rounded up the way
//! `resource.Quantity`'s `Value()` and `MilliValue()` round.

/// A parsed quantity: `mantissa × 10^exp10 × 2^exp2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parsed {
    mantissa: i128,
    exp10: i32,
    exp2: u32,
}

/// The quantity in whole units, rounded up (`Value()`); none when it does not parse.
pub fn value(text: &str) -> Option<i64> {
    parse(text).map(|p| scaled(p, 0))
}

/// The quantity in thousandths, rounded up (`MilliValue()`); none when it does not parse.
pub fn milli_value(text: &str) -> Option<i64> {
    parse(text).map(|p| scaled(p, 3))
}

/// `p × 10^scale`, rounded towards positive infinity and saturated to `i64`.
fn scaled(p: Parsed, scale: i32) -> i64 {
    let exp10 = p.exp10.saturating_add(scale);
    let with_binary = p
        .mantissa
        .checked_mul(1i128.checked_shl(p.exp2).unwrap_or(0))
        .filter(|_| p.exp2 < 127);
    let Some(numerator) = with_binary else {
        return saturate(p.mantissa.signum() * i128::MAX);
    };
    if exp10 >= 0 {
        match pow10(exp10 as u32).and_then(|f| numerator.checked_mul(f)) {
            Some(v) => saturate(v),
            None => saturate(numerator.signum() * i128::MAX),
        }
    } else {
        match pow10(exp10.unsigned_abs()) {
            Some(d) => saturate(numerator.div_euclid(d) + i128::from(numerator.rem_euclid(d) != 0)),
            // Dividing by more than 10^38 leaves a fraction of one: rounded up, 1 (or 0).
            None => saturate(i128::from(numerator > 0)),
        }
    }
}

fn saturate(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

/// Reads `<sign><digits>[.<digits>]<suffix>` with a binary-SI, decimal-SI or exponent suffix.
fn parse(text: &str) -> Option<Parsed> {
    let text = text.trim();
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let number_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return None;
    }
    let fraction = fraction.trim_end_matches('0');
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 36 {
        return None;
    }
    let magnitude: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let (exp10, exp2) = suffix_exponents(suffix)?;
    Some(Parsed {
        mantissa: if negative { -magnitude } else { magnitude },
        exp10: exp10.checked_sub(i32::try_from(fraction.len()).ok()?)?,
        exp2,
    })
}

/// The powers of ten and two a suffix stands for.
fn suffix_exponents(suffix: &str) -> Option<(i32, u32)> {
    let decimal = |e: i32| Some((e, 0));
    let binary = |e: u32| Some((0, e));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            let valid = !exponent.is_empty()
                && exponent
                    .trim_start_matches(['+', '-'])
                    .chars()
                    .all(|c| c.is_ascii_digit());
            if !valid {
                return None;
            }
            let e: i32 = exponent.parse().ok()?;
            (-1000..=1000).contains(&e).then_some((e, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_in_millis() {
        assert_eq!(milli_value("500m"), Some(500));
        assert_eq!(milli_value("1"), Some(1000));
        assert_eq!(milli_value("1.5"), Some(1500));
        assert_eq!(milli_value("0.1"), Some(100));
        assert_eq!(milli_value(".25"), Some(250));
        assert_eq!(milli_value("2k"), Some(2_000_000));
        // Sub-milli precision rounds up, as MilliValue() does.
        assert_eq!(milli_value("1u"), Some(1));
        assert_eq!(milli_value("100n"), Some(1));
        assert_eq!(milli_value("0"), Some(0));
    }

    #[test]
    fn memory_in_bytes() {
        assert_eq!(value("128Mi"), Some(128 * 1024 * 1024));
        assert_eq!(value("1Gi"), Some(1 << 30));
        assert_eq!(value("1.5Gi"), Some(3 << 29));
        assert_eq!(value("1G"), Some(1_000_000_000));
        assert_eq!(value("2e3"), Some(2000));
        assert_eq!(value("2E+3"), Some(2000));
        assert_eq!(value("12e-1"), Some(2));
        assert_eq!(value("100m"), Some(1));
        assert_eq!(value("110"), Some(110));
        assert_eq!(value("-1"), Some(-1));
    }

    #[test]
    fn huge_values_saturate() {
        assert_eq!(value("9Ei"), Some(i64::MAX));
        assert_eq!(value("1e100"), Some(i64::MAX));
        assert_eq!(value("1e-100"), Some(1));
    }

    #[test]
    fn garbage_does_not_parse() {
        for bad in ["", "abc", "1Qi", "1.2.3", "e3", "1e", "1e+", "."] {
            assert_eq!(value(bad), None, "{bad:?}");
        }
    }
}
