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
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "all test dependencies are installed"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
