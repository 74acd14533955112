//! A busybox test image as an OCI archive, built with umoci and skopeo from the machine's
//! busybox-static (`/bin/busybox` and its applets' links, `/etc/passwd`, cmd `sh`), plus
//! extra files; the node agent imports it from `<data-dir>/agent/images/` (the airgap path).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a command, panicking with its output when it fails.
fn run(cmd: &mut Command) -> String {
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

/// Builds the archive of image `name` (`repo:tag`) under `dir` with `extra` files copied in
/// (`(host path, path in the image)`, directories created); returns its path.
pub fn build_archive(dir: &Path, name: &str, extra: &[(&Path, &str)]) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let oci = dir.join("oci");
    let image = format!("{}:busybox", oci.display());
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
        "PATH=/bin:/usr/bin",
        "--config.workingdir",
        "/",
        "--architecture",
        "amd64",
        "--os",
        "linux",
    ]));
    let path = dir.join("image.tar");
    run(Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:busybox", oci.display()))
        .arg(format!("oci-archive:{}:{name}", path.display())));
    path
}
