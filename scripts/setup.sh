#!/usr/bin/env bash
# setup.sh — install every Debian package the suite needs, then build (dev preset:
# Debug + ASan + UBSan). Idempotent. Run as root, or with sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
    build-essential cmake pkg-config clang-format
    libczmq-dev libzmq3-dev liblmdb-dev lmdb-utils
    libprotobuf-c-dev protobuf-c-compiler
    libcoap3-dev libcbor-dev libssl-dev libcriterion-dev
    iproute2 util-linux docker-compose
    clang libclang-rt-14-dev # scripts/fuzz.sh: clang 14 and its libFuzzer runtime
    libical-dev # devsim: ACE validity periods (RFC 5545)
    libyaml-dev # obt-ams: the policy file (docs/ams.md)
    podman runc debootstrap  # scripts/compose-test.sh: the container deployment (docs/deploy.md)
    libmbedtls-dev # tests/peers/obt_mbedtls_peer: an mbedTLS DTLS server (real devices' stack)
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "setup.sh: run as root (apt-get needs it), or install sudo" >&2
        exit 1
    fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# OBT_PRESET: dev, or ci (warnings as errors; .ci/run); test.sh builds the same. Configured
# only once (a second `cmake --preset` rewrote the flags and made every object stale).
PRESET=${OBT_PRESET:-dev}
if [ "$(sed -n 's/^OBT_PRESET:[A-Z]*=//p' build/CMakeCache.txt 2>/dev/null)" != "$PRESET" ]; then
    cmake --preset "$PRESET" >/dev/null
fi
cmake --build --preset "$PRESET" -j"$(nproc)"
echo "setup.sh: built into build/ (binaries in build/bin)"
