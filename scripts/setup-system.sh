#!/usr/bin/env bash
# Installs the Debian packages Airlock and its tests need. Idempotent: when everything is
# already installed it returns in well under a second without touching apt.
# guacd is not in bookworm; it comes from bullseye under a low-priority pin (see LAB.md).
set -euo pipefail

PACKAGES=(
  redis-server redis-sentinel haproxy
  guacd libguac-client-rdp0 libguac-client-vnc0 libguac-client-ssh0 libguac-client-telnet0
  openssh-server
  tigervnc-standalone-server tigervnc-tools xterm
  xrdp xorgxrdp xserver-xorg-core dbus-x11
  inetutils-telnetd openbsd-inetd
  chromium
  fonts-dejavu-core
  ffmpeg tesseract-ocr tesseract-ocr-eng tk
  wrk
  clamav-daemon clamav
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "airlock: missing system packages: ${missing[*]}" >&2
  echo "airlock: run this once as root:  sudo bash $(realpath "$0")" >&2
  exit 1
fi

echo "airlock: installing system packages: ${missing[*]}" >&2
BULLSEYE_LIST=/etc/apt/sources.list.d/airlock-bullseye.list
BULLSEYE_PIN=/etc/apt/preferences.d/airlock-bullseye-pin
if [ ! -f "$BULLSEYE_LIST" ]; then
  echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main' > "$BULLSEYE_LIST"
fi
if [ ! -f "$BULLSEYE_PIN" ]; then
  # Priority 100: only what bookworm lacks (guacd and its plugins, libssl1.1) comes from bullseye.
  printf 'Package: *\nPin: release n=bullseye\nPin-Priority: 100\n' > "$BULLSEYE_PIN"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends keeps xrdp from pulling a whole desktop.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's postinst scripts may try to start daemons; Airlock runs its own private instances.
echo "airlock: system packages installed" >&2
