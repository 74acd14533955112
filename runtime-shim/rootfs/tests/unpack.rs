//! Layers that must unpack: compression, metadata, special files, hard links, whiteouts,
//! digests, and the unpack-once-by-chain-ID rule.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use common::{Env, Layer, MTIME, inode, run_filter};
use kmicro_rootfs::{Compression, LayerError, chain_ids};
use tar::EntryType;

fn sample() -> Vec<u8> {
    Layer::new()
        .dir("./", 0o755)
        .dir("etc", 0o755)
        .file("etc/hostname", b"kmicro\n")
        .file("usr/bin/tool", &vec![7u8; 300_000])
        .symlink("bin", "usr/bin")
        .finish()
}

fn check_sample(dir: &std::path::Path) {
    assert_eq!(
        std::fs::read(dir.join("etc/hostname")).unwrap(),
        b"kmicro\n"
    );
    assert_eq!(
        std::fs::read(dir.join("usr/bin/tool")).unwrap(),
        vec![7u8; 300_000]
    );
    assert_eq!(
        std::fs::read_link(dir.join("bin")).unwrap().to_str(),
        Some("usr/bin")
    );
}

#[test]
fn plain_gzip_and_zstd_layers() {
    let env = Env::new();
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Zstd,
        Compression::Detect,
    ] {
        let mut tar = sample();
        // A distinct diff_id per run, so each is really unpacked.
        tar.extend_from_slice(&[0u8; 512]);
        tar.extend(std::iter::repeat_n(0u8, 512 * (compression as usize)));
        let layer = env.blob(&tar, compression);
        let dirs = env.snapshotter.unpack(&[layer]).unwrap();
        check_sample(&dirs[0]);
    }
    assert_eq!(env.snapshotter.layers().unwrap().len(), 4);
}

#[test]
fn detection_of_gzip_and_zstd() {
    let env = Env::new();
    let tar = sample();
    for compression in [Compression::Gzip, Compression::Zstd] {
        let mut layer = env.blob(&tar, compression);
        layer.compression = Compression::Detect;
        let dirs = env.snapshotter.unpack(&[layer]).unwrap();
        check_sample(&dirs[0]);
    }
}

#[test]
fn multi_member_gzip_and_multi_frame_zstd() {
    // Two halves compressed separately and concatenated (as pigz, estargz or zstd:chunked
    // write them), with a skippable frame between the zstd ones.
    let env = Env::new();
    let tar = sample();
    let (a, b) = tar.split_at(tar.len() / 2 + 100);
    let mut gzip = run_filter(&["gzip", "-c"], a);
    gzip.extend(run_filter(&["gzip", "-c"], b));
    let mut zstd = run_filter(&["zstd", "-c", "-q"], a);
    zstd.extend_from_slice(&0x184D_2A50u32.to_le_bytes());
    zstd.extend_from_slice(&5u32.to_le_bytes());
    zstd.extend_from_slice(b"skip!");
    zstd.extend(run_filter(&["zstd", "-c", "-q"], b));
    for (bytes, compression) in [(gzip, Compression::Gzip), (zstd, Compression::Zstd)] {
        let snapshotter =
            kmicro_rootfs::Snapshotter::open(env.dir.path().join(format!("{compression:?}")))
                .unwrap();
        let mut layer = env.blob(&tar, Compression::None);
        std::fs::write(&layer.path, bytes).unwrap();
        layer.compression = compression;
        let dirs = snapshotter.unpack(&[layer]).unwrap();
        check_sample(&dirs[0]);
    }
}

#[test]
fn diff_id_mismatch_is_refused_and_leaves_nothing() {
    let env = Env::new();
    let mut layer = env.blob(&sample(), Compression::Gzip);
    let wrong = kmicro_rootfs::Digest::of(b"something else").to_string();
    layer.diff_id = wrong.clone();
    let error = env
        .snapshotter
        .unpack(std::slice::from_ref(&layer))
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&wrong), "{message}");
    assert!(
        message.contains(&layer.path.display().to_string()),
        "{message}"
    );
    match error.layer_error() {
        Some(LayerError::DigestMismatch { expected, actual }) => {
            assert_eq!(*expected, wrong);
            assert_eq!(*actual, kmicro_rootfs::Digest::of(&sample()).to_string());
        }
        _ => panic!("expected a digest mismatch, got {error}"),
    }
    env.assert_nothing_left();
}

#[test]
fn corrupt_compressed_data_is_an_error() {
    let env = Env::new();
    let layer = env.blob(&sample(), Compression::Gzip);
    let mut bytes = std::fs::read(&layer.path).unwrap();
    let middle = bytes.len() / 2;
    bytes.truncate(middle);
    std::fs::write(&layer.path, bytes).unwrap();
    let error = env.snapshotter.unpack(&[layer]).unwrap_err();
    assert!(
        matches!(error.layer_error(), Some(LayerError::Read(_))),
        "{error}"
    );
    env.assert_nothing_left();
}

#[test]
fn metadata_special_files_and_xattrs() {
    let env = Env::new();
    let tar = Layer::new()
        .dir("dev", 0o755)
        .device("dev/null", EntryType::Char, 1, 3, 0o666)
        .device("dev/loop9", EntryType::Block, 7, 9, 0o660)
        .device("run.fifo", EntryType::Fifo, 0, 0, 0o620)
        .file_owned("bin/su", b"#!/bin/false\n", 0o4755, 0, 0)
        .file_owned("home/user/notes", b"n", 0o640, 1000, 1001)
        .pax(&[
            ("SCHILY.xattr.user.kmicro", &b"hello"[..]),
            ("SCHILY.xattr.trusted.overlay.redirect", &b"/etc"[..]),
            ("uid", &b"70000"[..]),
            ("mtime", &b"1600000000.25"[..]),
        ])
        .file("with-xattr", b"x")
        .dir("sticky", 0o1777)
        .file("sticky/inside", b"i")
        .finish();
    let layer = env.blob(&tar, Compression::None);
    let dir = &env.snapshotter.unpack(&[layer]).unwrap()[0];

    let null = std::fs::metadata(dir.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(
        (null.rdev(), null.mode() & 0o7777),
        (rustix::fs::makedev(1, 3), 0o666)
    );
    let block = std::fs::metadata(dir.join("dev/loop9")).unwrap();
    assert!(block.file_type().is_block_device());
    assert_eq!(block.rdev(), rustix::fs::makedev(7, 9));
    let fifo = std::fs::metadata(dir.join("run.fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o620);

    let su = std::fs::metadata(dir.join("bin/su")).unwrap();
    assert_eq!(su.permissions().mode() & 0o7777, 0o4755, "setuid kept");
    let notes = std::fs::metadata(dir.join("home/user/notes")).unwrap();
    assert_eq!(
        (notes.uid(), notes.gid(), notes.mode() & 0o777),
        (1000, 1001, 0o640)
    );
    assert_eq!(notes.mtime(), MTIME as i64);
    // Implicit parents: root-owned 0755.
    let home = std::fs::metadata(dir.join("home")).unwrap();
    assert_eq!((home.uid(), home.mode() & 0o777), (0, 0o755));

    let with_xattr = dir.join("with-xattr");
    let meta = std::fs::metadata(&with_xattr).unwrap();
    assert_eq!(meta.uid(), 70000, "PAX uid wins over the header");
    assert_eq!(
        (meta.mtime(), meta.mtime_nsec()),
        (1_600_000_000, 250_000_000)
    );
    let mut value = [0u8; 16];
    let n = rustix::fs::getxattr(&with_xattr, "user.kmicro", &mut value[..]).unwrap();
    assert_eq!(&value[..n], b"hello");
    assert!(
        rustix::fs::getxattr(&with_xattr, "trusted.overlay.redirect", &mut value[..]).is_err(),
        "overlayfs attributes from archives are dropped"
    );

    let sticky = std::fs::metadata(dir.join("sticky")).unwrap();
    assert_eq!(sticky.mode() & 0o7777, 0o1777);
    assert_eq!(
        sticky.mtime(),
        MTIME as i64,
        "directory times set after its children"
    );
}

#[test]
fn hard_links_inside_the_layer() {
    let env = Env::new();
    let tar = Layer::new()
        .file("usr/bin/gzip", b"binary")
        .hardlink("usr/bin/gunzip", "usr/bin/gzip")
        .hardlink("bin/zcat", "./usr/bin/gzip")
        .symlink("usr/bin/sh", "/bin/busybox")
        .hardlink("usr/bin/sh2", "usr/bin/sh")
        .finish();
    let layer = env.blob(&tar, Compression::None);
    let dir = &env.snapshotter.unpack(&[layer]).unwrap()[0];
    let (gzip, links) = inode(&dir.join("usr/bin/gzip"));
    assert_eq!(links, 3);
    assert_eq!(inode(&dir.join("usr/bin/gunzip")).0, gzip);
    assert_eq!(inode(&dir.join("bin/zcat")).0, gzip);
    // A hard link to a symbolic link links the link, not what it points at.
    assert_eq!(
        std::fs::read_link(dir.join("usr/bin/sh2"))
            .unwrap()
            .to_str(),
        Some("/bin/busybox")
    );
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let env = Env::new();
    let tar = Layer::new()
        .file("etc/.wh.gone", b"")
        .dir("data", 0o755)
        .file("data/.wh..wh..opq", b"")
        .file("data/new", b"n")
        .file(".wh..wh.plnk", b"")
        .finish();
    let layer = env.blob(&tar, Compression::None);
    let dir = &env.snapshotter.unpack(&[layer]).unwrap()[0];
    let gone = std::fs::symlink_metadata(dir.join("etc/gone")).unwrap();
    assert!(gone.file_type().is_char_device());
    assert_eq!(gone.rdev(), 0);
    assert!(!dir.join("etc/.wh.gone").exists());
    let mut value = [0u8; 4];
    let n =
        rustix::fs::getxattr(dir.join("data"), "trusted.overlay.opaque", &mut value[..]).unwrap();
    assert_eq!(&value[..n], b"y");
    assert!(!dir.join(".wh..wh.plnk").exists());
    assert!(!dir.join("data/.wh..wh..opq").exists());
}

#[test]
fn layers_are_unpacked_once_by_chain_id() {
    let env = Env::new();
    let base = env.blob(&sample(), Compression::Gzip);
    let top_a = env.blob(&Layer::new().file("a", b"a").finish(), Compression::None);
    let top_b = env.blob(&Layer::new().file("b", b"b").finish(), Compression::None);
    let image_a = env
        .snapshotter
        .unpack(&[base.clone(), top_a.clone()])
        .unwrap();
    let marker = image_a[0].join("marker");
    std::fs::write(&marker, b"still the first unpack").unwrap();
    let image_b = env
        .snapshotter
        .unpack(&[base.clone(), top_b.clone()])
        .unwrap();
    assert_eq!(image_a[0], image_b[0], "the shared base is reused");
    assert!(marker.exists(), "and not unpacked again");
    assert_ne!(image_a[1], image_b[1]);
    let chains = chain_ids(&[&base.diff_id, &top_a.diff_id]).unwrap();
    assert_eq!(image_a[1], env.snapshotter.layer_dir(&chains[1]));
    // The same top layer over another base is another chain: unpacked again.
    let other_base = env.blob(&Layer::new().file("o", b"o").finish(), Compression::None);
    let image_c = env.snapshotter.unpack(&[other_base, top_a]).unwrap();
    assert_ne!(image_c[1], image_a[1]);
    assert_eq!(env.snapshotter.layers().unwrap().len(), 5);
}

#[test]
fn concurrent_unpacks_of_the_same_layers() {
    let env = Env::new();
    let layers = vec![
        env.blob(&sample(), Compression::Zstd),
        env.blob(&Layer::new().file("top", b"t").finish(), Compression::Gzip),
    ];
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| env.snapshotter.unpack(&layers).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    check_sample(&results[0][0]);
    assert_eq!(env.snapshotter.layers().unwrap().len(), 2);
    assert_eq!(
        Env::tree(&env.dir.path().join("snap/tmp")),
        Vec::<String>::new()
    );
}

#[test]
fn leftovers_of_an_interrupted_unpack_are_removed_at_open() {
    let env = Env::new();
    let leftover = env.dir.path().join("snap/tmp/abc-1-0/usr");
    std::fs::create_dir_all(&leftover).unwrap();
    let _reopened = kmicro_rootfs::Snapshotter::open(env.dir.path().join("snap")).unwrap();
    assert!(!leftover.exists());
}

#[test]
fn archive_without_final_padding_or_end_blocks() {
    // As umoci 0.4 writes them: the last entry's data is not padded to a block and no
    // end-of-archive blocks follow. The content is whole; the diff_id covers these bytes.
    let env = Env::new();
    let full = Layer::new().file("a", b"first").file("b", b"abc").finish();
    let truncated = &full[..512 * 3 + 3];
    let layer = env.blob(truncated, Compression::Gzip);
    let dir = &env.snapshotter.unpack(&[layer]).unwrap()[0];
    assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"first");
    assert_eq!(std::fs::read(dir.join("b")).unwrap(), b"abc");

    // Cut anywhere else: an error, not a file completed with zeros.
    let long = Layer::new()
        .file("a", b"first")
        .file("b", &[1u8; 1000])
        .finish();
    for cut in [512 * 3 + 600, 512 * 2 + 100, 512 * 3 + 999] {
        let layer = env.blob(&long[..cut], Compression::None);
        let error = env.snapshotter.unpack(&[layer]).unwrap_err();
        assert!(
            matches!(error.layer_error(), Some(LayerError::Read(_))),
            "cut at {cut}: {error}"
        );
    }
}
