//! Real parts for the image tests: busybox OCI images built with umoci from `/bin/busybox`
//! (busybox-static), a private docker-registry on 127.0.0.1 (optionally with htpasswd basic
//! auth, the bcrypt hash made here), pushes with skopeo.

#![allow(dead_code)]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kmicro_images::Digest;

/// Runs a command, panicking with its output when it fails.
pub fn run(cmd: &mut Command) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// An OCI layout (`<dir>/oci`) with three images, built once per test binary:
/// - `base`: one layer holding busybox (`/bin/busybox`, `/bin/sh`), cmd `sh`, linux/amd64;
/// - `extra`: `base` plus a layer with `/etc/extra`, sharing `base`'s layer;
/// - `armv7`: `base`'s layer with an arm config (linux/arm), another config digest.
pub fn layout() -> &'static Path {
    static LAYOUT: OnceLock<PathBuf> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kmicro-images-layout");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let oci = dir.join("oci");
        let image = |tag: &str| format!("{}:{tag}", oci.display());
        run(Command::new("umoci").args(["init", "--layout"]).arg(&oci));
        run(Command::new("umoci").args(["new", "--image", &image("base")]));
        let bundle = dir.join("bundle");
        run(Command::new("umoci")
            .args(["unpack", "--image", &image("base")])
            .arg(&bundle));
        let bin = bundle.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
        std::os::unix::fs::symlink("busybox", bin.join("sh")).unwrap();
        run(Command::new("umoci")
            .args(["repack", "--image", &image("base")])
            .arg(&bundle));
        run(Command::new("umoci").args([
            "config",
            "--image",
            &image("base"),
            "--config.cmd",
            "sh",
            "--config.env",
            "KMICRO=1",
            "--config.workingdir",
            "/tmp",
            "--architecture",
            "amd64",
            "--os",
            "linux",
        ]));
        run(Command::new("umoci").args([
            "config",
            "--image",
            &image("base"),
            "--tag",
            "armv7",
            "--architecture",
            "arm",
        ]));
        let bundle2 = dir.join("bundle2");
        run(Command::new("umoci")
            .args(["unpack", "--image", &image("base")])
            .arg(&bundle2));
        std::fs::create_dir_all(bundle2.join("rootfs/etc")).unwrap();
        std::fs::write(bundle2.join("rootfs/etc/extra"), "extra layer\n").unwrap();
        run(Command::new("umoci")
            .args(["repack", "--image", &image("extra")])
            .arg(&bundle2));
        oci
    })
}

/// The manifest descriptor (digest, size) of a tag in the layout.
pub fn layout_manifest(tag: &str) -> (Digest, u64) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout().join("index.json")).unwrap()).unwrap();
    for m in index["manifests"].as_array().unwrap() {
        if m["annotations"]["org.opencontainers.image.ref.name"] == tag {
            return (
                Digest::parse(m["digest"].as_str().unwrap()).unwrap(),
                m["size"].as_u64().unwrap(),
            );
        }
    }
    panic!("no {tag} in the layout");
}

/// A blob of the layout.
pub fn layout_blob(digest: &Digest) -> Vec<u8> {
    std::fs::read(layout().join("blobs/sha256").join(digest.hex())).unwrap()
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private docker-registry on 127.0.0.1, stopped when dropped.
pub struct Registry {
    /// `127.0.0.1:<port>`.
    pub host: String,
    /// Its config, storage and htpasswd.
    pub dir: tempfile::TempDir,
    child: Child,
    creds: Option<(String, String)>,
    /// The CA that signed its serving certificate (PEM), when it serves HTTPS.
    pub ca_pem: Option<PathBuf>,
}

impl Registry {
    /// Without authentication.
    pub fn start() -> Self {
        Self::start_inner(None, false)
    }

    /// Serving HTTPS with a certificate for 127.0.0.1 from a CA of its own ([`Self::ca_pem`]).
    pub fn start_tls() -> Self {
        Self::start_inner(None, true)
    }

    /// With htpasswd basic auth for one user.
    pub fn start_with_auth(user: &str, password: &str) -> Self {
        Self::start_inner(Some((user.to_owned(), password.to_owned())), false)
    }

    fn start_inner(creds: Option<(String, String)>, tls: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = &creds {
            let hash = bcrypt::hash(password, 5).unwrap();
            std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: kmicro-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        let ca_pem = tls.then(|| {
            let (ca, cert, key) = tls_files(dir.path());
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            ca
        });
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(&host).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {host}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            host,
            dir,
            child,
            creds,
            ca_pem,
        }
    }

    /// Pushes an image of the layout (`base`, `extra`, `armv7`) as `repository:tag`.
    pub fn push(&self, layout_tag: &str, repository_tag: &str) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet", "--dest-tls-verify=false"]);
        if let Some((user, password)) = &self.creds {
            cmd.arg(format!("--dest-creds={user}:{password}"));
        }
        cmd.arg(format!("oci:{}:{layout_tag}", layout().display()))
            .arg(format!("docker://{}/{repository_tag}", self.host));
        run(&mut cmd);
    }

    /// Puts a manifest or index document as `repository:tag`.
    pub fn put_manifest(&self, repository: &str, tag: &str, media_type: &str, body: &[u8]) {
        let body_path = self.dir.path().join("manifest-body");
        std::fs::write(&body_path, body).unwrap();
        let mut cmd = Command::new("curl");
        cmd.args(["-sSf", "-X", "PUT", "-H"])
            .arg(format!("Content-Type: {media_type}"))
            .arg("--data-binary")
            .arg(format!("@{}", body_path.display()));
        if let Some((user, password)) = &self.creds {
            cmd.arg("-u").arg(format!("{user}:{password}"));
        }
        cmd.arg(format!(
            "http://{}/v2/{repository}/manifests/{tag}",
            self.host
        ));
        run(&mut cmd);
    }

    /// Where the registry keeps a blob's bytes.
    pub fn blob_data(&self, digest: &Digest) -> PathBuf {
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&digest.hex()[..2])
            .join(digest.hex())
            .join("data")
    }
}

/// A CA of its own and a serving certificate for 127.0.0.1 it signed, written in `dir`:
/// answers the CA's, the certificate's and the key's PEM files.
pub fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kmicro test registry CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `bytes` to `path` compressed with gzip.
pub fn gzip_file(from: &Path, to: &Path) {
    let input = std::fs::read(from).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(to).unwrap(),
        flate2::Compression::fast(),
    );
    encoder.write_all(&input).unwrap();
    encoder.finish().unwrap();
}

/// Files in a store's dir (to check nothing was left behind).
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
