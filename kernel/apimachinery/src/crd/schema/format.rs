//! String formats: the ones kube-apiserver checks in custom resources (apiextensions'
//! supported formats, validated as kube-openapi's `strfmt` registry validates them). A format
//! kube does not know (`int32` on a string, `password`, anything else) accepts every string.

use std::net::IpAddr;
use std::sync::OnceLock;

use base64::Engine;
use regex::Regex;

/// Whether `value` is valid for `format`; unknown formats accept everything.
pub(crate) fn valid(format: &str, value: &str) -> bool {
    // strfmt looks formats up by a normalized name: lower case, without dashes.
    match format.to_ascii_lowercase().replace('-', "").as_str() {
        "bsonobjectid" => value.len() == 24 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        "uri" => is_request_uri(value),
        "email" => is_email(value),
        "hostname" => is_hostname(value),
        "ipv4" => value.parse::<IpAddr>().is_ok() && value.contains('.'),
        "ipv6" => value.parse::<IpAddr>().is_ok() && value.contains(':'),
        "cidr" => is_cidr(value),
        "mac" => is_mac(value),
        "uuid" => matches(
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
            value,
        ),
        "uuid3" => matches(
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
            value,
        ),
        "uuid4" => matches(
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$",
            value,
        ),
        "uuid5" => matches(
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$",
            value,
        ),
        "isbn" => is_isbn10(value) || is_isbn13(value),
        "isbn10" => is_isbn10(value),
        "isbn13" => is_isbn13(value),
        "creditcard" => is_credit_card(value),
        "ssn" => matches(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$", value),
        "hexcolor" => matches(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$", value),
        "rgbcolor" => matches(
            r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$",
            value,
        ),
        "byte" => base64::engine::general_purpose::STANDARD
            .decode(value)
            .is_ok(),
        "date" => value.len() == 10 && value.parse::<jiff::civil::Date>().is_ok(),
        "duration" => is_duration(value),
        "datetime" => is_date_time(value),
        _ => true,
    }
}

/// Whether `value` matches `pattern` (compiled once per pattern and process).
fn matches(pattern: &'static str, value: &str) -> bool {
    static CACHE: OnceLock<std::sync::Mutex<Vec<(&'static str, Regex)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, re)) = cache.iter().find(|(p, _)| *p == pattern) {
        return re.is_match(value);
    }
    match Regex::new(pattern) {
        Ok(re) => {
            let ok = re.is_match(value);
            cache.push((pattern, re));
            ok
        }
        Err(_) => true,
    }
}

/// Go's `url.ParseRequestURI`: an absolute URI or an absolute path.
fn is_request_uri(value: &str) -> bool {
    if value.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return false;
    }
    value.starts_with('/') || matches(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:.", value)
}

/// Go's `mail.ParseAddress`, for the common shapes: `local@domain`, `Name <local@domain>`.
fn is_email(value: &str) -> bool {
    let addr = match (value.rfind('<'), value.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => value,
    };
    matches(
        r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*$",
        addr,
    ) && !addr.starts_with('.')
}

/// RFC 1034 host names: dot-separated labels of letters, digits and inner dashes.
fn is_hostname(value: &str) -> bool {
    value.len() <= 255
        && value.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

/// Go's `net.ParseCIDR`.
fn is_cidr(value: &str) -> bool {
    let Some((ip, bits)) = value.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    !bits.is_empty()
        && bits.len() <= 3
        && bits.bytes().all(|b| b.is_ascii_digit())
        && bits.parse::<u32>().is_ok_and(|b| b <= max)
}

/// Go's `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx…`, `xx-xx…` or `xxxx.xxxx…`.
fn is_mac(value: &str) -> bool {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let octets = |groups: usize, per: usize| matches!(groups * per, 6 | 8 | 20);
    for sep in [':', '-'] {
        let groups: Vec<&str> = value.split(sep).collect();
        if groups.len() > 1 {
            return octets(groups.len(), 1) && groups.iter().all(|g| hex(g, 2));
        }
    }
    let groups: Vec<&str> = value.split('.').collect();
    groups.len() > 1 && octets(groups.len(), 2) && groups.iter().all(|g| hex(g, 4))
}

/// Go's `time.ParseDuration`, or strfmt's `<number> <unit>` sequences (`3d`, `2 weeks`).
fn is_duration(value: &str) -> bool {
    if matches(
        r"^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$",
        value,
    ) {
        return true;
    }
    matches(
        r"^(\s*\d+\s*(ns|us|µs|ms|s|m|h|d|w|nanoseconds?|microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?)\s*)+$",
        value,
    )
}

/// strfmt's date-time: RFC 3339 with or without a zone, with a space or a `T`, seconds
/// optional when a zone follows.
fn is_date_time(value: &str) -> bool {
    if !matches(
        r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$",
        value,
    ) {
        return false;
    }
    let (date, time) = (&value[..10], &value[11..]);
    let hour: u32 = time[..2].parse().unwrap_or(99);
    let minute: u32 = time[3..5].parse().unwrap_or(99);
    let second: u32 = time.get(6..8).and_then(|s| s.parse().ok()).unwrap_or(0);
    date.parse::<jiff::civil::Date>().is_ok() && hour < 24 && minute < 60 && second < 61
}

/// ISBN-10 with its checksum (dashes and spaces ignored).
fn is_isbn10(value: &str) -> bool {
    let digits: Vec<char> = value.chars().filter(|c| *c != '-' && *c != ' ').collect();
    if digits.len() != 10 {
        return false;
    }
    let mut sum = 0;
    for (i, c) in digits.iter().enumerate() {
        let v = match (i, c) {
            (9, 'X') => 10,
            (_, c) => match c.to_digit(10) {
                Some(d) => d,
                None => return false,
            },
        };
        sum += (10 - i as u32) * v;
    }
    sum.is_multiple_of(11)
}

/// ISBN-13 with its checksum (dashes and spaces ignored).
fn is_isbn13(value: &str) -> bool {
    let digits: Option<Vec<u32>> = value
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .map(|c| c.to_digit(10))
        .collect();
    let Some(digits) = digits.filter(|d| d.len() == 13) else {
        return false;
    };
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 })
        .sum();
    sum.is_multiple_of(10)
}

/// strfmt's credit card numbers: the usual issuer prefixes and lengths, any non-digits
/// ignored.
fn is_credit_card(value: &str) -> bool {
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    matches(
        r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})$",
        &digits,
    )
}

#[cfg(test)]
mod tests {
    use super::valid;

    #[test]
    fn formats_kube_checks() {
        for (format, good, bad) in [
            ("date-time", "2024-01-02T03:04:05Z", "yesterday"),
            (
                "date-time",
                "2024-01-02T03:04:05.123+02:00",
                "2024-13-02T03:04:05Z",
            ),
            ("date", "2024-02-29", "2023-02-29"),
            ("email", "ops@example.com", "not an email"),
            ("hostname", "node-1.example.com", "-bad-.example"),
            ("ipv4", "10.0.0.1", "::1"),
            ("ipv6", "fe80::1", "10.0.0.1"),
            ("cidr", "10.0.0.0/8", "10.0.0.0/33"),
            ("mac", "00:00:5e:00:53:01", "00:00:5e"),
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123"),
            (
                "uuid4",
                "123e4567-e89b-42d3-a456-426614174000",
                "123e4567-e89b-12d3-a456-426614174000",
            ),
            ("byte", "aGVsbG8=", "%%%"),
            ("duration", "1h30m", "soon"),
            ("duration", "3d", "3 fortnights"),
            ("uri", "https://example.com/x", "example.com"),
            ("hexcolor", "#ff00aa", "#ff00a"),
            ("isbn10", "0321751043", "0321751044"),
        ] {
            assert!(valid(format, good), "{format}: {good}");
            assert!(!valid(format, bad), "{format}: {bad}");
        }
        assert!(valid("int32", "anything"));
        assert!(valid("password", "anything"));
    }
}
