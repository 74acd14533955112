//! Static bearer tokens, in kube-apiserver's `--token-auth-file` format.
//!
//! Each line is `token,user,uid[,"group1,group2"]` (CSV; columns after the fourth are ignored,
//! as kube-apiserver does); blank lines and lines starting with `#` are skipped.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::files::{self, PRIVATE};
use crate::{Identity, PkiError, client, random};

/// Random bytes in a generated token (hex encoded, so twice as many characters).
const TOKEN_BYTES: usize = 32;

/// A loaded static token file.
pub struct TokenFile {
    path: PathBuf,
    entries: Vec<Entry>,
}

struct Entry {
    token: String,
    identity: Identity,
}

impl TokenFile {
    /// Loads the token file at `path` (`<data-dir>/server/tokens.csv`). When it does not
    /// exist it is created (`0600`, parent directories `0700`) holding one random token for
    /// `system:admin` in `system:masters`. A malformed line is an error naming the file and
    /// line; an existing file is never rewritten.
    pub fn load_or_create(path: &Path) -> Result<TokenFile, PkiError> {
        let text = match files::read_optional(path)? {
            Some(text) => {
                warn_if_readable_by_others(path);
                text
            }
            None => {
                let text = format!(
                    "# kmicro static bearer tokens: token,user,uid,\"group1,group2\"\n\
                     {},{user},{user},\"{group}\"\n",
                    random::hex(TOKEN_BYTES)?,
                    user = client::ADMIN_USER,
                    group = client::ADMIN_GROUP,
                );
                files::create_dirs(files::parent_of(path), 0o700)?;
                files::write_atomic(path, text.as_bytes(), PRIVATE)?;
                info!(path = %path.display(), "created the token file with an admin token");
                text
            }
        };
        Ok(TokenFile {
            path: path.to_path_buf(),
            entries: parse(path, &text)?,
        })
    }

    /// The identity `token` belongs to, if any. The comparison takes the same time whichever
    /// byte differs, and every entry is compared (only the token's length can leak).
    pub fn authenticate(&self, token: &str) -> Option<Identity> {
        let mut found = None;
        for entry in &self.entries {
            if constant_time_eq(entry.token.as_bytes(), token.as_bytes()) {
                found = Some(entry);
            }
        }
        found.map(|entry| entry.identity.clone())
    }

    /// The first token whose groups include `system:masters` (for the admin kubeconfig).
    pub fn admin_token(&self) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.identity.groups.iter().any(|g| g == client::ADMIN_GROUP))
            .map(|e| e.token.as_str())
    }

    /// The file the tokens were read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFile")
            .field("path", &self.path)
            .field("tokens", &self.entries.len())
            .finish()
    }
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            warn!(path = %path.display(), mode = %format_args!("{:o}", mode & 0o7777),
                "the token file is accessible to other users; it should be 0600");
        }
    }
}

fn parse(path: &Path, text: &str) -> Result<Vec<Entry>, PkiError> {
    let mut entries: Vec<(usize, Entry)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let bad = |reason: String| PkiError::InvalidTokenLine {
            path: path.to_path_buf(),
            line: number,
            reason,
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields = split_csv(trimmed).map_err(|e| bad(e.into()))?;
        let [token, user, _uid, rest @ ..] = fields.as_slice() else {
            return Err(bad(format!(
                "expected token,user,uid[,\"group1,group2\"], found {} field(s)",
                fields.len()
            )));
        };
        if token.is_empty() {
            return Err(bad("the token is empty".into()));
        }
        if token.chars().any(char::is_whitespace) {
            return Err(bad("the token contains whitespace".into()));
        }
        if user.is_empty() {
            return Err(bad("the user is empty".into()));
        }
        if let Some((first, _)) = entries.iter().find(|(_, e)| e.token == *token) {
            return Err(bad(format!("the token is already on line {first}")));
        }
        let groups = rest
            .first()
            .map(|groups| {
                groups
                    .split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        entries.push((
            number,
            Entry {
                token: token.clone(),
                identity: Identity {
                    user: user.clone(),
                    groups,
                },
            },
        ));
    }
    Ok(entries.into_iter().map(|(_, e)| e).collect())
}

/// Splits one CSV record: fields separated by `,`, optionally double-quoted (`""` inside
/// quotes is a quote); whitespace around fields is dropped.
fn split_csv(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted field"),
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
            fields.push(field);
            match chars.next() {
                None => return Ok(fields),
                Some(',') => {}
                Some(_) => return Err("text after a closing quote"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field.trim_end().to_string());
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("a quote inside an unquoted field"),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field.trim_end().to_string());
        }
    }
}

/// Equality whose time depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields() {
        assert_eq!(split_csv("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(
            split_csv(" a , b,c, \"g1,g2\" ").unwrap(),
            ["a", "b", "c", "g1,g2"]
        );
        assert_eq!(split_csv("a,,\"x\"\"y\"").unwrap(), ["a", "", "x\"y"]);
        assert_eq!(split_csv("a,b,").unwrap(), ["a", "b", ""]);
        assert!(split_csv("a,\"b").is_err());
        assert!(split_csv("a,\"b\"c").is_err());
        assert!(split_csv("a,b\"c").is_err());
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
