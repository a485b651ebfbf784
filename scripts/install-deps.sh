#!/usr/bin/env bash
# Installs the system packages the build needs, only if they are missing:
# libclang (RocksDB's Rust bindings run bindgen). Idempotent and quiet when all is present.
set -euo pipefail

# libclang itself (libclang.so / libclang-NN.so.N), not libclang-cpp, which a fresh machine may
# already have without libclang.
have_libclang() {
  ldconfig -p 2>/dev/null | grep -qE 'libclang(-[0-9]+)?\.so' \
    || ls /usr/lib/llvm-*/lib/libclang.so /usr/lib/llvm-*/lib/libclang-[0-9]*.so* >/dev/null 2>&1
}

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo is not on PATH; install Rust (https://rustup.rs) first" >&2
  exit 1
fi

if have_libclang; then
  exit 0
fi

echo "install-deps: installing libclang-dev (needed to build RocksDB's bindings)"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: need root (or sudo) to apt-get install libclang-dev" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends libclang-dev >/dev/null
have_libclang || { echo "install-deps: libclang still not found" >&2; exit 1; }
