//! Warnings for the client: kube-apiserver's `Warning: 299 - "text"` response headers, which
//! kubectl prints as `Warning: text` and client libraries hand to their warning handlers.

use std::sync::Mutex;

use http::{HeaderMap, HeaderValue, header};

/// The rune budget of all warnings of one response; past it each is cut (kube's limits).
const TOTAL_RUNES: usize = 4 * 1024;
/// What each warning is cut to when the budget is exceeded.
const ITEM_RUNES: usize = 256;

/// The warnings of one request, collected while it runs (from any handler, through `&self`)
/// and written as headers on its response, successful or not.
#[derive(Debug, Default)]
pub struct Warnings(Mutex<Vec<String>>);

impl Warnings {
    /// Adds a warning; a text already added is sent once.
    pub fn add(&self, text: impl Into<String>) {
        let text = text.into();
        let mut texts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !text.is_empty() && !texts.contains(&text) {
            texts.push(text);
        }
    }

    /// Writes the warnings as `Warning` headers, in the order added. When together they
    /// exceed 4096 characters, each is cut to 256 and those past the budget are dropped, as
    /// kube-apiserver does.
    pub fn write_to(&self, headers: &mut HeaderMap) {
        let texts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = texts.iter().map(|t| t.chars().count()).sum();
        let mut written = 0;
        for text in texts.iter() {
            let text = if total > TOTAL_RUNES {
                if written >= TOTAL_RUNES {
                    break;
                }
                text.chars().take(ITEM_RUNES).collect()
            } else {
                text.clone()
            };
            written += text.chars().count();
            if let Ok(value) = HeaderValue::from_bytes(header_text(&text).as_bytes()) {
                headers.append(header::WARNING, value);
            }
        }
    }
}

/// `299 - "<text>"`: code 299 (miscellaneous persistent warning), no agent, the text as an
/// HTTP quoted string (`"` and `\` escaped; control characters, which a header cannot carry,
/// as spaces).
fn header_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str("299 - \"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(w: &Warnings) -> Vec<String> {
        let mut headers = HeaderMap::new();
        w.write_to(&mut headers);
        headers
            .get_all(header::WARNING)
            .iter()
            .map(|v| String::from_utf8(v.as_bytes().to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn warnings_are_quoted_deduplicated_and_in_order() {
        let w = Warnings::default();
        w.add(r#"unknown field "spec.foo""#);
        w.add("second\nline");
        w.add(r#"unknown field "spec.foo""#);
        w.add("");
        assert_eq!(
            written(&w),
            [
                r#"299 - "unknown field \"spec.foo\"""#,
                r#"299 - "second line""#
            ]
        );
    }

    #[test]
    fn too_many_warnings_are_cut_to_kubes_budget() {
        let w = Warnings::default();
        for i in 0..40 {
            w.add(format!("{i:03} {}", "x".repeat(300)));
        }
        let out = written(&w);
        assert_eq!(out.len(), 16);
        assert!(out.iter().all(|h| h.len() == 256 + "299 - \"\"".len()));
        assert!(out[15].starts_with("299 - \"015 "));
    }
}
