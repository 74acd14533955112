#!/usr/bin/env bash
# Cross-builds the release kmicro for armv7-unknown-linux-gnueabihf, prints its stripped size,
# and runs it under user-mode qemu: --version and a short benchmark of the embedded store.
set -euo pipefail
cd "$(dirname "$0")/.."

target=armv7-unknown-linux-gnueabihf
cargo build --release --locked -p kmicro --target "$target"
bin="${CARGO_TARGET_DIR:-target}/$target/release/kmicro"
size=$(stat -c %s "$bin")
printf 'armv7 kmicro: %s bytes (%s MiB), stripped\n' "$size" "$(awk "BEGIN { printf \"%.2f\", $size / 1048576 }")"

qemu() { qemu-arm-static -L /usr/arm-linux-gnueabihf "$@"; }
qemu "$bin" --version
qemu "$bin" bench store --puts 500 --concurrency 8 --watch-puts 100
