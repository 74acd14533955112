//! The static bearer token file.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use kmicro_pki::{Identity, PkiError, TokenFile};

fn admin() -> Identity {
    Identity {
        user: "system:admin".into(),
        groups: vec!["system:masters".into()],
    }
}

#[test]
fn first_start_creates_an_admin_token_that_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server/tokens.csv");
    let tokens = TokenFile::load_or_create(&path).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    let token = tokens.admin_token().unwrap().to_string();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(tokens.authenticate(&token), Some(admin()));
    assert_eq!(tokens.authenticate(""), None);
    assert_eq!(tokens.authenticate(&token[..63]), None);
    assert_eq!(tokens.authenticate(&format!("{token}0")), None);
    assert!(!format!("{tokens:?}").contains(&token));

    let contents = fs::read(&path).unwrap();
    let again = TokenFile::load_or_create(&path).unwrap();
    assert_eq!(fs::read(&path).unwrap(), contents);
    assert_eq!(again.admin_token(), Some(token.as_str()));
    assert_eq!(again.authenticate(&token), Some(admin()));

    let other = TokenFile::load_or_create(&dir.path().join("other.csv")).unwrap();
    assert_ne!(other.admin_token(), Some(token.as_str()));
}

#[test]
fn hand_written_file_with_comments_and_optional_groups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.csv");
    fs::write(
        &path,
        "# comment\n\
         \n\
         t-viewer,jane,1001\n\
         t-dev, joe , 1002 ,\"dev, system:authenticated\"\r\n\
         \x20  # indented comment\n\
         t-root,root,0,system:masters\n\
         t-root2,root2,0,\"system:masters\"\n",
    )
    .unwrap();
    let tokens = TokenFile::load_or_create(&path).unwrap();
    assert_eq!(
        tokens.authenticate("t-viewer"),
        Some(Identity {
            user: "jane".into(),
            groups: vec![]
        })
    );
    assert_eq!(
        tokens.authenticate("t-dev"),
        Some(Identity {
            user: "joe".into(),
            groups: vec!["dev".into(), "system:authenticated".into()]
        })
    );
    assert_eq!(tokens.admin_token(), Some("t-root"));
    assert_eq!(tokens.authenticate("# comment"), None);

    // No admin token at all is allowed (and the file is not rewritten).
    fs::write(&path, "t,u,1\n").unwrap();
    assert_eq!(
        TokenFile::load_or_create(&path).unwrap().admin_token(),
        None
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "t,u,1\n");
}

#[test]
fn malformed_lines_are_errors_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.csv");
    let cases = [
        ("only,two\n", 1),
        ("# c\nok,u,1\n\nbad\n", 4),
        ("a,b,c,\"unterminated\n", 1),
        ("a,b,c,\"x\"y\n", 1),
        (",user,1\n", 1),
        ("tok,,1\n", 1),
        ("to ken,user,1\n", 1),
        ("dup,a,1\nother,b,2\ndup,c,3\n", 3),
    ];
    for (contents, line) in cases {
        fs::write(&path, contents).unwrap();
        match TokenFile::load_or_create(&path) {
            Err(e @ PkiError::InvalidTokenLine { .. }) => {
                let PkiError::InvalidTokenLine {
                    path: p, line: l, ..
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!((p, *l), (&path, line), "{contents:?}: {e}");
                let message = e.to_string();
                assert!(
                    message.starts_with(&format!("{}:{line}: ", path.display())),
                    "{message}"
                );
            }
            other => panic!("{contents:?}: expected a line error, got {other:?}"),
        }
    }
}

#[test]
fn unreadable_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.csv");
    fs::create_dir(&path).unwrap();
    match TokenFile::load_or_create(&path) {
        Err(PkiError::Io { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}
