#!/usr/bin/env bash
# Prepares a fresh Debian machine (run as root, or with sudo available) for the demo,
# the tests and the benchmarks: Dovecot and archive tools from apt, a private Cyrus, Courier
# into a private root (scripts/install-courier.sh), then npm ci.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

need=()
for pkg in dovecot-imapd dovecot-pop3d openssl unzip p7zip-full python3 redis-server chromium mutt; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  # Only the packages: the test rig starts its own private Dovecot, never the system service.
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Cyrus for the test rig, unpacked beside Dovecot (its packages conflict with Dovecot's).
bash scripts/install-cyrus.sh
# Courier for the rig's server matrix, unpacked beside Dovecot (it conflicts in apt).
bash scripts/install-courier.sh

stamp=node_modules/.mailferry-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi
