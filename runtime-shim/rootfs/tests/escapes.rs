//! Hostile layers: every way out of the layer directory is refused, for the whole layer,
//! with an error naming the entry and the reason, and nothing is written anywhere.

mod common;

use common::{Env, Layer, inode};
use kmicro_rootfs::{Compression, Error, LayerError, Refusal};

/// Unpacks a one-layer image that must be refused; returns the entry and reason.
fn refused(env: &Env, tar: Vec<u8>) -> (String, Refusal) {
    let layer = env.blob(&tar, Compression::None);
    let error = env
        .snapshotter
        .unpack(std::slice::from_ref(&layer))
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&layer.diff_id), "{message}");
    assert!(
        message.contains(&layer.path.display().to_string()),
        "{message}"
    );
    env.assert_nothing_left();
    assert!(matches!(error, Error::Layer { index: 0, .. }), "{message}");
    match error.layer_error() {
        Some(LayerError::Refused { entry, reason }) => {
            assert!(message.contains(&format!("{entry:?}")), "{message}");
            (entry.clone(), reason.clone())
        }
        _ => panic!("expected a refusal, got {message}"),
    }
}

#[test]
fn dot_dot_components() {
    let env = Env::new();
    let (entry, reason) = refused(&env, Layer::new().raw_file(b"../evil", b"x").finish());
    assert_eq!((entry.as_str(), reason), ("../evil", Refusal::DotDot));
    let tar = Layer::new()
        .dir("a", 0o755)
        .raw_file(b"a/../../outside/evil", b"x")
        .finish();
    let (entry, reason) = refused(&env, tar);
    assert_eq!(
        (entry.as_str(), reason),
        ("a/../../outside/evil", Refusal::DotDot)
    );
}

#[test]
fn absolute_names() {
    let env = Env::new();
    let name = format!("{}/evil", env.outside().display());
    let (entry, reason) = refused(&env, Layer::new().raw_file(name.as_bytes(), b"x").finish());
    assert_eq!((entry, reason), (name, Refusal::AbsolutePath));
}

#[test]
fn absolute_symlink_used_as_a_directory() {
    let env = Env::new();
    let outside = env.outside().display().to_string();
    let tar = Layer::new()
        .symlink("link", &outside)
        .file("link/evil", b"x")
        .finish();
    let (entry, reason) = refused(&env, tar);
    assert_eq!(entry, "link/evil");
    assert_eq!(reason, Refusal::ThroughSymlink("link".into()));
}

#[test]
fn relative_symlink_used_as_a_directory() {
    let env = Env::new();
    // Deep enough to climb out of snap/tmp/<dir>/ up to the temp dir, then into outside/.
    let tar = Layer::new()
        .dir("d", 0o755)
        .symlink("d/up", "../../../../outside")
        .file("d/up/evil", b"x")
        .finish();
    let (entry, reason) = refused(&env, tar);
    assert_eq!(entry, "d/up/evil");
    assert_eq!(reason, Refusal::ThroughSymlink("d/up".into()));
}

#[test]
fn chained_symlinks() {
    let env = Env::new();
    let outside = env.outside().display().to_string();
    let tar = Layer::new()
        .symlink("a", "b")
        .symlink("b", "c")
        .symlink("c", &outside)
        .file("a/evil", b"x")
        .finish();
    let (entry, reason) = refused(&env, tar);
    assert_eq!(entry, "a/evil");
    assert_eq!(reason, Refusal::ThroughSymlink("a".into()));
}

#[test]
fn symlink_then_directory_entry_below_it() {
    let env = Env::new();
    let outside = env.outside().display().to_string();
    let tar = Layer::new()
        .symlink("etc", &outside)
        .dir("etc/cron.d", 0o755)
        .finish();
    let (entry, reason) = refused(&env, tar);
    assert_eq!(entry, "etc/cron.d");
    assert_eq!(reason, Refusal::ThroughSymlink("etc".into()));
}

#[test]
fn hard_link_to_an_absolute_path() {
    let env = Env::new();
    let secret = env.outside().join("secret");
    std::fs::write(&secret, b"secret").unwrap();
    let target = secret.display().to_string();
    let tar = Layer::new().hardlink("stolen", &target).finish();
    let layer = env.blob(&tar, Compression::None);
    let error = env.snapshotter.unpack(&[layer]).unwrap_err();
    assert!(
        matches!(
            error.layer_error(),
            Some(LayerError::Refused { entry, reason: Refusal::LinkTargetAbsolute(t) })
                if entry == "stolen" && *t == target
        ),
        "{error}"
    );
    assert_eq!(inode(&secret).1, 1, "the secret gained no link");
}

#[test]
fn hard_link_climbing_out() {
    let env = Env::new();
    let tar = Layer::new()
        .hardlink("stolen", "../../../outside/secret")
        .finish();
    let (entry, reason) = refused(&env, tar);
    assert_eq!(entry, "stolen");
    assert_eq!(
        reason,
        Refusal::LinkTargetDotDot("../../../outside/secret".into())
    );
}

#[test]
fn hard_link_through_a_symlink() {
    let env = Env::new();
    let secret = env.outside().join("secret");
    std::fs::write(&secret, b"secret").unwrap();
    let tar = Layer::new()
        .symlink("out", &env.outside().display().to_string())
        .hardlink("stolen", "out/secret")
        .finish();
    let layer = env.blob(&tar, Compression::None);
    let error = env.snapshotter.unpack(&[layer]).unwrap_err();
    match error.layer_error() {
        Some(LayerError::Refused { entry, reason }) => {
            assert_eq!(entry, "stolen");
            assert_eq!(
                *reason,
                Refusal::LinkTargetThroughSymlink {
                    target: "out/secret".into(),
                    at: "out".into()
                }
            );
        }
        _ => panic!("expected a refusal, got {error}"),
    }
    assert_eq!(inode(&secret).1, 1, "the secret gained no link");
    std::fs::remove_file(&secret).unwrap();
    env.assert_nothing_left();
}

#[test]
fn hard_link_to_a_missing_target() {
    let env = Env::new();
    let tar = Layer::new().hardlink("h", "etc/passwd").finish();
    let (_, reason) = refused(&env, tar);
    assert_eq!(reason, Refusal::LinkTargetMissing("etc/passwd".into()));
}

#[test]
fn file_over_a_symlink_replaces_the_link() {
    // Not an escape: a later entry replaces the link itself, never writes through it.
    let env = Env::new();
    let victim = env.outside().join("victim");
    std::fs::write(&victim, b"original").unwrap();
    let tar = Layer::new()
        .symlink("x", &victim.display().to_string())
        .file("x", b"replaced")
        .finish();
    let layer = env.blob(&tar, Compression::None);
    let dirs = env.snapshotter.unpack(&[layer]).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"original");
    let x = dirs[0].join("x");
    assert!(std::fs::symlink_metadata(&x).unwrap().is_file());
    assert_eq!(std::fs::read(&x).unwrap(), b"replaced");
}

#[test]
fn entry_under_a_file_is_refused() {
    let env = Env::new();
    let tar = Layer::new().file("f", b"x").file("f/g", b"y").finish();
    let (entry, reason) = refused(&env, tar);
    assert_eq!(entry, "f/g");
    assert_eq!(reason, Refusal::NotADirectory("f".into()));
}
