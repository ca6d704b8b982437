#!/usr/bin/env bash
# Installs Cyrus IMAP (Debian's cyrus-imapd, cyrus-pop3d, cyrus-common) and the SASL tools
# (sasl2-bin, for saslpasswd2) into a private root for the test rig (test/rig/cyrus.ts),
# WITHOUT going through dpkg: Cyrus's packages conflict with Dovecot's (imap-server,
# pop3-server), so `apt-get install` would remove Dovecot. Instead the .debs are fetched with
# `apt-get download` and unpacked with `dpkg-deb -x` into $MAILFERRY_CYRUS_ROOT
# (default /opt/mailferry-rig/cyrus); no maintainer script runs, no service is enabled.
# Their library dependencies (lib* names in the packages' Depends) do not conflict and are
# installed normally with apt-get. Safe to run again: it only checks when everything is there.
set -euo pipefail

root="${MAILFERRY_CYRUS_ROOT:-/opt/mailferry-rig/cyrus}"
debs=(cyrus-common cyrus-imapd cyrus-pop3d sasl2-bin)
bins=(usr/lib/cyrus/bin/master usr/lib/cyrus/bin/imapd usr/lib/cyrus/bin/pop3d
  usr/lib/cyrus/bin/ctl_cyrusdb usr/sbin/saslpasswd2)
stamp="$root/.mailferry-installed"

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

# Every binary present and each of its shared libraries resolvable (ldd, with the private libs).
complete() {
  [ -f "$stamp" ] || return 1
  local b
  for b in "${bins[@]}"; do
    [ -x "$root/$b" ] || return 1
    if LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu" ldd "$root/$b" | grep -q 'not found'; then
      return 1
    fi
  done
}

if complete; then exit 0; fi
echo "install-cyrus: installing Cyrus IMAP into $root" >&2
export DEBIAN_FRONTEND=noninteractive

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# apt downloads as the _apt user when it can write there (otherwise it warns and uses root).
chmod 755 "$work"
"${sudo_cmd[@]}" chown _apt "$work" 2>/dev/null || true
(cd "$work" && "${sudo_cmd[@]}" apt-get download -qq "${debs[@]}" 2>/dev/null) || {
  "${sudo_cmd[@]}" apt-get update -qq
  (cd "$work" && "${sudo_cmd[@]}" apt-get download -qq "${debs[@]}")
}

# Library dependencies: first alternative of each Depends entry, version dropped, lib* only.
libs=()
for deb in "$work"/*.deb; do
  while read -r name; do
    case "$name" in lib*) libs+=("$name") ;; esac
  done < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g')
done
mapfile -t libs < <(printf '%s\n' "${libs[@]}" | sort -u)
missing=()
for lib in "${libs[@]}"; do
  dpkg -s "$lib" >/dev/null 2>&1 || missing+=("$lib")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-cyrus: apt-get install ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  }
fi

"${sudo_cmd[@]}" rm -rf "$root"
"${sudo_cmd[@]}" mkdir -p "$root"
for deb in "$work"/*.deb; do
  "${sudo_cmd[@]}" dpkg-deb -x "$deb" "$root"
done
# The rig writes its own configs; the packaged ones are dropped so nothing reads them by mistake.
"${sudo_cmd[@]}" rm -rf "$root/etc" "$root/lib/systemd" "$root/usr/lib/tmpfiles.d"
(cd "$work" && ls ./*.deb) | "${sudo_cmd[@]}" tee "$stamp" >/dev/null

complete || {
  echo "install-cyrus: Cyrus unpacked into $root but a binary or library is missing:" >&2
  for b in "${bins[@]}"; do
    LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu" ldd "$root/$b" 2>&1 | grep 'not found' >&2 || true
  done
  exit 1
}
echo "install-cyrus: done" >&2
