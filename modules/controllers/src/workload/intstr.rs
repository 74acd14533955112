//! `IntOrString` fields (`maxSurge`, `maxUnavailable`): an absolute number or a percentage of
//! a total, as kube's `intstr.GetScaledValueFromIntOrPercent` reads them.

use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Why an `IntOrString` could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIntOrPercent(pub String);

impl std::fmt::Display for InvalidIntOrPercent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid value for IntOrString: {}", self.0)
    }
}

/// The value of `value` against `total`: itself when a number, else the percentage of
/// `total` rounded up (`round_up`) or down.
pub fn scaled(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, InvalidIntOrPercent> {
    match value {
        IntOrString::Int(v) => Ok(*v),
        IntOrString::String(s) => {
            let Some(number) = s.strip_suffix('%') else {
                return Err(InvalidIntOrPercent(format!(
                    "invalid type: string is not a percentage: {s:?}"
                )));
            };
            let percent: i64 = number
                .parse()
                .map_err(|_| InvalidIntOrPercent(format!("invalid value {s:?}")))?;
            let product = percent * i64::from(total);
            let value = if round_up {
                product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0)
            } else {
                product.div_euclid(100)
            };
            Ok(value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.to_string())
    }

    #[test]
    fn numbers_and_percentages() {
        assert_eq!(scaled(&IntOrString::Int(3), 10, true), Ok(3));
        assert_eq!(scaled(&pct("25%"), 10, true), Ok(3));
        assert_eq!(scaled(&pct("25%"), 10, false), Ok(2));
        assert_eq!(scaled(&pct("25%"), 4, false), Ok(1));
        assert_eq!(scaled(&pct("25%"), 1, false), Ok(0));
        assert_eq!(scaled(&pct("25%"), 1, true), Ok(1));
        assert_eq!(scaled(&pct("100%"), 7, true), Ok(7));
        assert_eq!(scaled(&pct("0%"), 7, true), Ok(0));
        assert!(scaled(&pct("25"), 10, true).is_err());
        assert!(scaled(&pct("x%"), 10, true).is_err());
    }
}
