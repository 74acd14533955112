//! A busybox test image built with umoci from the machine's busybox-static (`/bin/busybox`
//! and its applets' links, `/etc/passwd`, cmd `sh`, `PATH=/usr/bin:/bin`), plus extra files:
//! as an OCI layout, or as an OCI archive the node agent imports from
//! `<data-dir>/agent/images/` (the airgap path).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a command, panicking with its output when it fails; answers its stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        super::output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The tag of the image in a layout [`build_layout`] makes.
pub const LAYOUT_TAG: &str = "busybox";

/// Builds the archive of image `name` (`repo:tag`) under `dir` with `extra` files copied in
/// (`(host path, path in the image)`, directories created); returns its path.
pub fn build_archive(dir: &Path, name: &str, extra: &[(&Path, &str)]) -> PathBuf {
    let oci = build_layout(dir, extra);
    let path = dir.join("image.tar");
    write_archive(&oci, name, &path);
    path
}

/// Writes the image of layout `oci` (from [`build_layout`]) as an OCI archive at `path`,
/// naming it `name` (`repo:tag`).
pub fn write_archive(oci: &Path, name: &str, path: &Path) {
    let _ = std::fs::remove_file(path);
    run(Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:{LAYOUT_TAG}", oci.display()))
        .arg(format!("oci-archive:{}:{name}", path.display())));
}

/// Builds the image's OCI layout under `dir` (emptied first), the image tagged
/// [`LAYOUT_TAG`], with `extra` files as for [`build_archive`]; returns the layout's path.
pub fn build_layout(dir: &Path, extra: &[(&Path, &str)]) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let oci = dir.join("oci");
    let image = format!("{}:{LAYOUT_TAG}", oci.display());
    run(Command::new("umoci").args(["init", "--layout"]).arg(&oci));
    run(Command::new("umoci").args(["new", "--image", &image]));
    let bundle = dir.join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image", &image])
        .arg(&bundle));
    let root = bundle.join("rootfs");
    for d in ["bin", "tmp", "etc", "var", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let applets = run(Command::new("/bin/busybox").arg("--list"));
    for applet in applets.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    for (src, dest) in extra {
        let to = root.join(dest.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src, &to).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    }
    run(Command::new("umoci")
        .args(["repack", "--image", &image])
        .arg(&bundle));
    run(Command::new("umoci").args([
        "config",
        "--image",
        &image,
        "--config.cmd",
        "sh",
        "--config.env",
        "PATH=/usr/bin:/bin",
        "--config.workingdir",
        "/",
        "--architecture",
        "amd64",
        "--os",
        "linux",
    ]));
    oci
}
