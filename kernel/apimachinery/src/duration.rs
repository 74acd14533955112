//! Go's `time.ParseDuration`, the one parser of duration strings (`1h30m`, `250ms`, `1.5h`)
//! that Kubernetes fields and kubelet flags carry.

use std::time::Duration;

/// Parses a Go duration to signed seconds, with Go's error messages (`time: invalid duration
/// "x"`, `time: missing unit in duration "1"`, `time: unknown unit "x" in duration "1x"`).
/// Units: `ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`; a sign may lead; `0` needs no unit.
pub fn parse_go_duration(text: &str) -> Result<f64, String> {
    let invalid = || format!("time: invalid duration \"{text}\"");
    let (sign, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0.0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut seconds = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration \"{text}\""))?;
        if number_len == 0 {
            return Err(invalid());
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            unit => {
                return Err(format!(
                    "time: unknown unit \"{unit}\" in duration \"{text}\""
                ));
            }
        };
        rest = &rest[unit_len..];
        seconds += number * seconds_per_unit;
    }
    if !seconds.is_finite() {
        return Err(invalid());
    }
    Ok(sign * seconds)
}

/// A Go duration that must not be negative (a timeout, a period); `None` when malformed,
/// negative or beyond `u64` nanoseconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let seconds = parse_go_duration(text).ok()?;
    let nanos = (seconds * 1e9).round();
    if text.starts_with('-') || !(0.0..=u64::MAX as f64).contains(&nanos) {
        return None;
    }
    Some(Duration::from_nanos(nanos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_go() {
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10µs"), Some(Duration::from_micros(10)));
        assert_eq!(parse_duration("+2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "1", "s", "1x", "-1s", "1s2", "-0s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn signed_seconds_and_go_messages() {
        assert_eq!(parse_go_duration("1h30m"), Ok(5400.0));
        assert_eq!(parse_go_duration("-1.5s"), Ok(-1.5));
        assert_eq!(
            parse_go_duration("soon"),
            Err("time: invalid duration \"soon\"".to_string())
        );
        assert_eq!(
            parse_go_duration("5"),
            Err("time: missing unit in duration \"5\"".to_string())
        );
        assert_eq!(
            parse_go_duration("5y"),
            Err("time: unknown unit \"y\" in duration \"5y\"".to_string())
        );
    }
}
