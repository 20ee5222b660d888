#!/usr/bin/env bash
# Builds upstream guacd from a source tarball into a prefix of its own (LAB.md, "guacd 1.6.0 from
# source"), for CI's compatibility run against the guacd operators run in production. Does
# nothing when that prefix already holds a guacd built from the same tarball.
#   bash scripts/build-guacd.sh TARBALL PREFIX
# Prints the guacd binary's path as its last line.
set -euo pipefail

TARBALL="$(realpath "$1")"
mkdir -p "$2"
PREFIX="$(realpath "$2")"
GUACD="$PREFIX/sbin/guacd"
STAMP="$PREFIX/.built-from"

SUM="$(sha256sum "$TARBALL" | cut -d' ' -f1)"
if [ -x "$GUACD" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$SUM" ]; then
  echo "airlock: guacd already built in $PREFIX" >&2
  echo "$GUACD"
  exit 0
fi

# The -dev packages of every protocol guacd serves here (RDP, VNC, SSH, Telnet) and of its
# image, audio and TLS code; libtool-bin provides the libtool that autoreconf expects.
PACKAGES=(
  build-essential autoconf automake libtool libtool-bin pkg-config
  libcairo2-dev freerdp2-dev libssh2-1-dev libtelnet-dev libvncserver-dev libpango1.0-dev
  libwebp-dev libpulse-dev libvorbis-dev libjpeg62-turbo-dev libpng-dev uuid-dev libssl-dev
)
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then missing+=("$p"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "airlock: building guacd needs these packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "airlock: installing build packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

BUILD="$(mktemp -d "${TMPDIR:-/tmp}/airlock-guacd-build-XXXXXX")"
trap 'rm -rf "$BUILD"' EXIT
echo "airlock: building guacd from $(basename "$TARBALL") into $PREFIX" >&2
tar -xzf "$TARBALL" -C "$BUILD"
SRC="$(find "$BUILD" -mindepth 1 -maxdepth 1 -type d | head -n1)"
LOG="$PREFIX/build.log"
(
  cd "$SRC"
  autoreconf -fi
  # The rpath keeps this guacd on its own protocol plugins: without it, it would load the
  # system's guacd 1.3 libguac-client-*.so (LAB.md).
  ./configure --prefix="$PREFIX" --disable-guacenc --disable-guaclog --disable-kubernetes \
    --with-freerdp-plugin-dir="$PREFIX/lib/freerdp2" --without-init-dir --without-systemd-dir \
    LDFLAGS="-Wl,--disable-new-dtags -Wl,-rpath,$PREFIX/lib"
  make -j"$(nproc)"
  make install
) >"$LOG" 2>&1 || {
  echo "airlock: the guacd build failed; the end of $LOG:" >&2
  tail -n 40 "$LOG" >&2
  exit 1
}
"$GUACD" -v >&2
echo "$SUM" >"$STAMP"
echo "$GUACD"
