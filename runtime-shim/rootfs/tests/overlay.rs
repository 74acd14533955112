//! Container root filesystems: the merged overlay view, idempotent prepare and remove,
//! read-only mounts, many layers, and garbage collection.

mod common;

use std::path::Path;

use common::{Env, Layer};
use kmicro_rootfs::{Compression, Error, Snapshotter, chain_ids};

fn is_mounted(path: &Path) -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let wanted = path.display().to_string();
    mountinfo
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(wanted.as_str()))
}

#[test]
fn whiteouts_and_opaque_directories_across_two_layers() {
    let env = Env::new();
    let bottom = Layer::new()
        .file("etc/keep", b"keep")
        .file("etc/gone", b"gone")
        .file("data/old", b"old")
        .file("data/sub/older", b"older")
        .file("var/lib/dir/file", b"f")
        .finish();
    let top = Layer::new()
        .file("etc/.wh.gone", b"")
        .dir("data", 0o755)
        .file("data/.wh..wh..opq", b"")
        .file("data/new", b"new")
        .file("var/lib/.wh.dir", b"")
        .finish();
    let layers = [
        env.blob(&bottom, Compression::Gzip),
        env.blob(&top, Compression::Zstd),
    ];
    let lowers = env.snapshotter.unpack(&layers).unwrap();
    let rootfs = env.snapshotter.prepare("c1", &lowers, false).unwrap();
    assert!(!rootfs.reused && !rootfs.read_only);
    assert!(is_mounted(&rootfs.path));
    let root = &rootfs.path;
    assert_eq!(std::fs::read(root.join("etc/keep")).unwrap(), b"keep");
    assert!(!root.join("etc/gone").exists(), "whited out");
    assert_eq!(
        Env::tree(&root.join("data")),
        ["new"],
        "opaque: only the top layer's content"
    );
    assert!(!root.join("var/lib/dir").exists(), "a whited-out directory");
    assert!(root.join("var/lib").is_dir());
    // Writes go to the container's upper layer, not to the layers.
    std::fs::write(root.join("etc/keep"), b"changed").unwrap();
    std::fs::remove_file(root.join("data/new")).unwrap();
    assert_eq!(std::fs::read(lowers[0].join("etc/keep")).unwrap(), b"keep");
    assert!(lowers[1].join("data/new").exists());
    env.snapshotter.remove("c1").unwrap();
    assert!(!is_mounted(&rootfs.path));
}

#[test]
fn prepare_is_idempotent_and_survives_a_restart() {
    let env = Env::new();
    let layers = [env.blob(
        &Layer::new().file("bin/app", b"app").finish(),
        Compression::Gzip,
    )];
    let lowers = env.snapshotter.unpack(&layers).unwrap();
    let first = env.snapshotter.prepare("web-1", &lowers, false).unwrap();
    std::fs::write(first.path.join("state"), b"written by the container").unwrap();
    let second = env.snapshotter.prepare("web-1", &lowers, false).unwrap();
    assert_eq!(second.path, first.path);
    assert!(second.reused);

    // A new process (kmicro restarted) finds the mount and reuses it, upper layer and all.
    let reopened = Snapshotter::open(env.dir.path().join("snap")).unwrap();
    assert_eq!(reopened.containers().unwrap(), ["web-1"]);
    let again = reopened.prepare("web-1", &lowers, false).unwrap();
    assert!(again.reused);
    assert_eq!(
        std::fs::read(again.path.join("state")).unwrap(),
        b"written by the container"
    );
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mounts = mountinfo
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(&*first.path.display().to_string()))
        .count();
    assert_eq!(mounts, 1, "mounted once, not stacked");

    // Asked read-only while mounted read-write: refused, not silently different.
    assert!(matches!(
        reopened.prepare("web-1", &lowers, true),
        Err(Error::MountedDifferently {
            mounted_read_only: false,
            ..
        })
    ));

    // After a reboot the mount is gone but the upper layer stays: prepare mounts it again.
    rustix::mount::unmount(&first.path, rustix::mount::UnmountFlags::empty()).unwrap();
    let remounted = reopened.prepare("web-1", &lowers, false).unwrap();
    assert!(!remounted.reused);
    assert_eq!(
        std::fs::read(remounted.path.join("state")).unwrap(),
        b"written by the container"
    );

    reopened.remove("web-1").unwrap();
    assert!(!is_mounted(&first.path));
    assert!(!env.dir.path().join("snap/containers/web-1").exists());
    reopened.remove("web-1").unwrap();
    assert_eq!(reopened.containers().unwrap(), Vec::<String>::new());
    assert!(
        lowers[0].join("bin/app").exists(),
        "remove leaves the layers"
    );
}

#[test]
fn remove_of_a_busy_rootfs_detaches_it() {
    let env = Env::new();
    let layers = [env.blob(&Layer::new().file("f", b"f").finish(), Compression::None)];
    let lowers = env.snapshotter.unpack(&layers).unwrap();
    let rootfs = env.snapshotter.prepare("busy", &lowers, false).unwrap();
    let open = std::fs::File::open(rootfs.path.join("f")).unwrap();
    env.snapshotter.remove("busy").unwrap();
    assert!(!is_mounted(&rootfs.path));
    assert!(!env.dir.path().join("snap/containers/busy").exists());
    drop(open);
    assert!(
        lowers[0].join("f").exists(),
        "the layer was not deleted through the mount"
    );
}

#[test]
fn read_only_root_filesystems() {
    let env = Env::new();
    let one = [env.blob(
        &Layer::new().file("etc/os", b"one").finish(),
        Compression::None,
    )];
    let lowers = env.snapshotter.unpack(&one).unwrap();
    let rootfs = env.snapshotter.prepare("ro", &lowers, true).unwrap();
    assert!(rootfs.read_only);
    assert_eq!(std::fs::read(rootfs.path.join("etc/os")).unwrap(), b"one");
    let error = std::fs::write(rootfs.path.join("etc/new"), b"x").unwrap_err();
    assert_eq!(
        error.raw_os_error(),
        Some(rustix::io::Errno::ROFS.raw_os_error())
    );
    assert!(!env.dir.path().join("snap/containers/ro/upper").exists());
    assert!(env.snapshotter.prepare("ro", &lowers, true).unwrap().reused);
    env.snapshotter.remove("ro").unwrap();
}

#[test]
fn many_layers_fit_the_mount_options() {
    // 80 layers of 64-hex-digit paths are about 8 KiB of options, twice the kernel's page.
    let env = Env::new();
    let layers: Vec<_> = (0..80)
        .map(|i| {
            let tar = Layer::new()
                .file(&format!("layer-{i}"), format!("{i}").as_bytes())
                .file("top", format!("{i}").as_bytes())
                .finish();
            env.blob(&tar, Compression::None)
        })
        .collect();
    let lowers = env.snapshotter.unpack(&layers).unwrap();
    let rootfs = env.snapshotter.prepare("many", &lowers, false).unwrap();
    for i in 0..80 {
        assert!(rootfs.path.join(format!("layer-{i}")).exists(), "layer {i}");
    }
    assert_eq!(
        std::fs::read(rootfs.path.join("top")).unwrap(),
        b"79",
        "the last layer is on top"
    );
    env.snapshotter.remove("many").unwrap();
}

#[test]
fn invalid_containers_and_lowers_are_refused() {
    let env = Env::new();
    let layers = [env.blob(&Layer::new().file("f", b"f").finish(), Compression::None)];
    let lowers = env.snapshotter.unpack(&layers).unwrap();
    for id in ["", "..", "a/b", "../../etc"] {
        assert!(
            matches!(
                env.snapshotter.prepare(id, &lowers, false),
                Err(Error::InvalidContainerId { .. })
            ),
            "{id:?}"
        );
    }
    let stranger = env.outside();
    assert!(matches!(
        env.snapshotter.prepare("c", &[stranger], false),
        Err(Error::NotALayer { .. })
    ));
    assert!(matches!(
        env.snapshotter.prepare("c", &[], false),
        Err(Error::NoLayers { .. })
    ));
}

#[test]
fn gc_removes_unused_layers_but_not_mounted_ones() {
    let env = Env::new();
    let base = env.blob(&Layer::new().file("base", b"b").finish(), Compression::Gzip);
    let a = env.blob(&Layer::new().file("a", b"a").finish(), Compression::None);
    let b = env.blob(&Layer::new().file("b", b"b").finish(), Compression::None);
    let c = env.blob(&Layer::new().file("c", b"c").finish(), Compression::None);
    let image_a = env.snapshotter.unpack(&[base.clone(), a.clone()]).unwrap();
    let image_b = env.snapshotter.unpack(&[base.clone(), b.clone()]).unwrap();
    let image_c = env.snapshotter.unpack(std::slice::from_ref(&c)).unwrap();
    // Image C's layers are unreferenced but a container still runs on them.
    env.snapshotter.prepare("on-c", &image_c, false).unwrap();

    let keep = chain_ids(&[&base.diff_id, &a.diff_id]).unwrap();
    let report = env.snapshotter.gc(&keep).unwrap();
    let removed_b = chain_ids(&[&base.diff_id, &b.diff_id]).unwrap();
    assert_eq!(report.removed, [removed_b[1].clone()]);
    assert_eq!(report.kept, 3);
    assert!(image_a.iter().all(|d| d.exists()));
    assert!(!image_b[1].exists());
    assert!(image_c[0].exists());

    env.snapshotter.remove("on-c").unwrap();
    let report = env.snapshotter.gc(&[]).unwrap();
    assert_eq!(report.removed.len(), 3);
    assert_eq!(env.snapshotter.layers().unwrap(), Vec::new());
}

#[test]
fn a_failed_prepare_leaves_no_container_behind() {
    let env = Env::new();
    let layers = [env.blob(&Layer::new().file("f", b"f").finish(), Compression::None)];
    let lowers = env.snapshotter.unpack(&layers).unwrap();
    // 300 lowers do not fit one page even as /proc/self/fd names.
    let too_many = vec![lowers[0].clone(); 300];
    let error = env
        .snapshotter
        .prepare("fresh", &too_many, false)
        .unwrap_err();
    assert!(
        matches!(error, Error::TooManyLayers { layers: 300, .. }),
        "{error}"
    );
    assert_eq!(env.snapshotter.containers().unwrap(), Vec::<String>::new());
    assert!(!env.dir.path().join("snap/containers/fresh").exists());

    // A container that was there before the failed call is left for remove().
    std::fs::create_dir_all(env.dir.path().join("snap/containers/half")).unwrap();
    std::fs::write(env.dir.path().join("snap/containers/half/work"), b"").unwrap();
    let error = env.snapshotter.prepare("half", &lowers, false).unwrap_err();
    assert!(matches!(error, Error::Io { .. }), "{error}");
    assert_eq!(env.snapshotter.containers().unwrap(), ["half"]);

    let error = env.snapshotter.prepare("fresh", &[], false).unwrap_err();
    assert!(matches!(error, Error::NoLayers { .. }));
    let stranger = env.dir.path().join("snap/layers/not-a-chain-id");
    std::fs::create_dir(&stranger).unwrap();
    let error = env
        .snapshotter
        .prepare("fresh", &[stranger], false)
        .unwrap_err();
    assert!(matches!(error, Error::NotALayer { .. }), "{error}");
    assert_eq!(env.snapshotter.containers().unwrap(), ["half"]);
}
