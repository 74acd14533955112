#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine (root, Rust via rustup):
#   1. installs what the tests need (Debian packages; rustup adds the targets listed in
#      rust-toolchain.toml by itself),
#   2. checks formatting and lints (the kernel's workspace, and modules/ for wasm and host),
#   3. runs every test (the store conformance suite starts real etcd servers on loopback),
#   4. prints the store benchmark against a real etcd, the API benchmark and the modules
#      benchmark (debug build, dependencies optimised),
#   5. cross-builds kmicro for armv7, prints its stripped size, and runs it under qemu-arm
#      (kmicro run until its built-in modules are Running).
# CI (.ci/run) calls exactly this. Set CARGO_TARGET_DIR to keep builds between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies"
tests/install-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, and the kernel without etcd)"
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo clippy -p kmicro --no-default-features -- -D warnings

step "modules (wasm32-wasip2 workspace): fmt, clippy for wasm and host, unit tests"
(
    cd modules
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --target wasm32-wasip2 -- -D warnings
    cargo clippy --workspace --all-targets -- -D warnings
    cargo test --workspace
)

step "cargo test"
cargo test --workspace --all-features --no-fail-fast

step "store benchmark: kmicro's redb store vs a real etcd"
"${CARGO_TARGET_DIR:-target}/debug/kmicro" bench store --vs etcd --json

step "API benchmark: kmicro run under kubectl-like load (debug build)"
"${CARGO_TARGET_DIR:-target}/debug/kmicro" bench api --json

step "modules benchmark: module memory, controllers hot-swapped under Deployment churn (debug build)"
"${CARGO_TARGET_DIR:-target}/debug/kmicro" bench modules --json

step "pods benchmark: container starts through kmicro's runtime vs runc (debug build)"
"${CARGO_TARGET_DIR:-target}/debug/kmicro" bench pods --vs runc --json

step "armv7: cross build, size, run under qemu-arm"
tests/armv7.sh
