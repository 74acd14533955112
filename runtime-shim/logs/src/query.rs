//! `pods/log` query parameters as kube reads and validates them.

use jiff::{SignedDuration, Timestamp};

use crate::error::{Error, Result};
use crate::format::Stream;
use crate::reader::ReadOptions;

impl ReadOptions {
    /// The options of a `pods/log` query string (`follow`, `tailLines`, `sinceSeconds`,
    /// `sinceTime`, `timestamps`, `limitBytes`, `stream`), checked as kube checks them;
    /// `sinceSeconds` counts back from `now`. Other parameters (`container`, `previous`,
    /// `pretty`, …) are the caller's and ignored here.
    pub fn from_query(query: &str, now: Timestamp) -> Result<ReadOptions> {
        let mut options = ReadOptions::default();
        let mut since_seconds = None;
        let mut since_time = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name);
            let value = decode(value);
            let invalid = |reason| Error::InvalidParameter {
                name: name.clone(),
                value: value.clone(),
                reason,
            };
            match name.as_str() {
                "follow" => {
                    options.follow = parse_bool(&value).ok_or_else(|| invalid("not a boolean"))?
                }
                "timestamps" => {
                    options.timestamps =
                        parse_bool(&value).ok_or_else(|| invalid("not a boolean"))?
                }
                "tailLines" => {
                    let lines: i64 = value.parse().map_err(|_| invalid("not an integer"))?;
                    let lines = u64::try_from(lines)
                        .map_err(|_| invalid("must be greater than or equal to 0"))?;
                    options.tail_lines = Some(lines);
                }
                "limitBytes" => {
                    let limit: i64 = value.parse().map_err(|_| invalid("not an integer"))?;
                    if limit < 1 {
                        return Err(invalid("must be greater than 0"));
                    }
                    options.limit_bytes = Some(limit.unsigned_abs());
                }
                "sinceSeconds" => {
                    let seconds: i64 = value.parse().map_err(|_| invalid("not an integer"))?;
                    if seconds < 1 {
                        return Err(invalid("must be greater than 0"));
                    }
                    since_seconds = Some(seconds);
                }
                "sinceTime" => {
                    let time: Timestamp =
                        value.parse().map_err(|_| invalid("not an RFC 3339 time"))?;
                    since_time = Some(time);
                }
                "stream" => {
                    options.stream = match value.as_str() {
                        "Stdout" => Some(Stream::Stdout),
                        "Stderr" => Some(Stream::Stderr),
                        "All" | "" => None,
                        _ => return Err(invalid("must be Stdout, Stderr or All")),
                    }
                }
                _ => {}
            }
        }
        options.since = match (since_seconds, since_time) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidParameter {
                    name: "sinceSeconds".into(),
                    value: String::new(),
                    reason: "at most one of `sinceTime` or `sinceSeconds` may be specified",
                });
            }
            (Some(seconds), None) => Some(
                now.checked_sub(SignedDuration::from_secs(seconds))
                    .unwrap_or(Timestamp::MIN),
            ),
            (None, time) => time,
        };
        Ok(options)
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Percent-decoding of a query component (`+` is a space).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn kubectl_queries() {
        let options = ReadOptions::from_query(
            "container=app&follow=true&tailLines=10&timestamps=true&limitBytes=500&sinceTime=2024-05-01T11%3A00%3A00Z",
            now(),
        )
        .unwrap();
        assert_eq!(
            options,
            ReadOptions {
                follow: true,
                tail_lines: Some(10),
                since: Some("2024-05-01T11:00:00Z".parse().unwrap()),
                timestamps: true,
                limit_bytes: Some(500),
                stream: None,
            }
        );
        let options =
            ReadOptions::from_query("sinceSeconds=60&previous=true&stream=Stderr", now()).unwrap();
        assert_eq!(options.since, Some("2024-05-01T11:59:00Z".parse().unwrap()));
        assert_eq!(options.stream, Some(Stream::Stderr));
        assert_eq!(
            ReadOptions::from_query("", now()).unwrap(),
            ReadOptions::default()
        );
    }

    #[test]
    fn kube_refuses_these() {
        for query in [
            "tailLines=-1",
            "limitBytes=0",
            "sinceSeconds=0",
            "sinceSeconds=5&sinceTime=2024-05-01T11:00:00Z",
            "follow=yes",
            "sinceTime=yesterday",
            "stream=stdin",
        ] {
            let error = ReadOptions::from_query(query, now()).unwrap_err();
            assert!(
                matches!(error, Error::InvalidParameter { .. }),
                "{query}: {error}"
            );
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(decode("a%3Ab+c%2b"), "a:b c+");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%+1"), "% 1", "not a hex escape; + is a space");
    }
}
