#!/usr/bin/env bash
# Cross-builds the release kmicro for armv7-unknown-linux-gnueabihf (the built-in modules
# precompiled for Pulley, the sandbox without the Cranelift compiler), prints its stripped
# size, and runs it under user-mode qemu: --version, a short benchmark of the embedded store,
# then `kmicro run` on a temp data dir on 127.0.0.1 until the host's kubectl sees the built-in
# modules Running; prints the time that took and the emulated process's idle RSS.
set -euo pipefail
cd "$(dirname "$0")/.."

target=armv7-unknown-linux-gnueabihf
# Boards carry only the runtime: 16 MiB is the budget for the stripped binary.
budget=$((16 * 1048576))
cargo build --release --locked -p kmicro --target "$target"
bin="${CARGO_TARGET_DIR:-target}/$target/release/kmicro"
size=$(stat -c %s "$bin")
printf 'armv7 kmicro: %s bytes (%s MiB), stripped\n' "$size" "$(awk "BEGIN { printf \"%.2f\", $size / 1048576 }")"
if ((size > budget)); then
    echo "armv7 kmicro is over its budget of $budget bytes" >&2
    exit 1
fi
tree=$(cargo tree --locked -p kmicro --target "$target" -e normal -f '{p} {f}')
if grep -q 'wasmtime v.*cranelift' <<<"$tree"; then
    echo "armv7 kmicro carries the Cranelift compiler" >&2
    exit 1
fi

qemu() { qemu-arm-static -L /usr/arm-linux-gnueabihf "$@"; }
qemu "$bin" --version
qemu "$bin" bench store --puts 500 --concurrency 8 --watch-puts 100

# kmicro run under qemu, reached by the host's kubectl.
dir=$(mktemp -d)
pid=
cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
started=$(date +%s.%N)
# Started directly (not through the `qemu` function, whose subshell would be `$!`), so that
# the RSS read below is the emulated kmicro's.
KMICRO_LOG_LEVEL=warn qemu-arm-static -L /usr/arm-linux-gnueabihf "$bin" run --bind-address 127.0.0.1 --https-listen-port "$port" \
    --data-dir "$dir/data" 2>"$dir/kmicro.log" &
pid=$!
kubeconfig="$dir/data/kubeconfig.yaml"
running=
for _ in $(seq 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "kmicro run under qemu exited; its log ends:" >&2
        tail -n 20 "$dir/kmicro.log" >&2
        exit 1
    fi
    if [[ -s "$kubeconfig" ]]; then
        phases=$(kubectl --kubeconfig "$kubeconfig" --request-timeout=5s get modules \
            -o jsonpath='{range .items[*]}{.metadata.name}={.status.phase}{" "}{end}' 2>/dev/null || true)
        if [[ " $phases " == *" scheduler=Running "* && " $phases " == *" controllers=Running "* ]]; then
            running=$(date +%s.%N)
            break
        fi
    fi
    sleep 0.5
done
if [[ -z "$running" ]]; then
    echo "the built-in modules were not Running under qemu after 300 s (${phases:-no answer}); the log ends:" >&2
    tail -n 20 "$dir/kmicro.log" >&2
    exit 1
fi
kubectl --kubeconfig "$kubeconfig" get modules
printf 'armv7 kmicro run (qemu): start to built-in modules Running in %s s\n' \
    "$(awk "BEGIN { printf \"%.1f\", $running - $started }")"
sleep 5
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
printf 'armv7 kmicro run (qemu): %s KiB (%s MiB) RSS idle with the modules loaded, emulator included\n' \
    "$rss" "$(awk "BEGIN { printf \"%.1f\", $rss / 1024 }")"
