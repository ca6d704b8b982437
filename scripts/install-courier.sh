#!/usr/bin/env bash
# Unpacks Courier IMAP/POP3 and its authlib into a private root for the test rig
# (test/rig/courier.ts), beside the Dovecot that apt installed. courier-imap and courier-pop
# conflict with Dovecot in apt (imap-server, pop3-server), so their .debs are only unpacked,
# never installed: no maintainer scripts, no services, no files under /etc or /usr. The plain
# libraries they link against are installed with apt as usual. Safe to run again: it does
# nothing once the private root is in place.
set -euo pipefail

root=${MAILFERRY_COURIER_ROOT:-/opt/mailferry-rig/courier}
pkgs=(courier-base courier-imap courier-pop courier-authlib courier-authdaemon courier-authlib-userdb)

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive

# Done once the private root is complete (its stamp is written last); a newer Debian
# release of the packages is not worth a reinstall for tests.
if [ -f "$root/.installed" ] && [ -x "$root/usr/bin/imapd" ]; then
  exit 0
fi

candidates() {
  apt-cache policy "${pkgs[@]}" 2>/dev/null | awk '
    /^[^ ]/ { sub(":$", "", $1); pkg = $1 }
    /Candidate:/ && $2 != "(none)" { print pkg "=" $2; n++ }
    END { exit n == '"${#pkgs[@]}"' ? 0 : 1 }'
}

if ! wanted=$(candidates); then
  "${sudo_cmd[@]}" apt-get update -qq
  wanted=$(candidates) || { echo "install-courier: apt knows no ${pkgs[*]}" >&2; exit 1; }
fi

echo "install-courier: unpacking ${pkgs[*]} into $root" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download fetches as the _apt user when that user may write the directory.
chown _apt "$work" 2>/dev/null || true
# shellcheck disable=SC2086 # one word per package=version
(cd "$work" && "${sudo_cmd[@]}" apt-get download -qq $wanted)

# Library dependencies (first of each alternative), e.g. libgdbm6, libidn12; not courier-* or
# service glue (adduser, debconf, init scripts, an MTA).
libs=$(for deb in "$work"/*.deb; do dpkg-deb -f "$deb" Depends; done |
  tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' |
  grep -E '^lib' | sort -u)
# makeuserdb is a Perl script (Fcntl only: perl-base has it).
missing=()
for p in $libs perl-base; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-courier: installing ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

staged="$root.new.$$"
"${sudo_cmd[@]}" rm -rf "$staged"
"${sudo_cmd[@]}" mkdir -p "$staged"
for deb in "$work"/*.deb; do "${sudo_cmd[@]}" dpkg-deb -x "$deb" "$staged"; done
# imaplogin and courierpop3login sleep(5) after every failed login, hard-coded; tests that
# check a refused password should not wait for it. Patch `mov $5,%edi; call sleep` to
# sleep(0) in the private copy, only where exactly the two expected calls are found.
for bin in usr/lib/courier/courier/imaplogin usr/lib/courier/courier/courierpop3login; do
  "${sudo_cmd[@]}" perl -e '
    my ($file) = @ARGV;
    open(my $fh, "+<:raw", $file) or die "$file: $!\n";
    local $/; my $d = <$fh>;
    my (@at, %target);
    while ($d =~ /\xbf\x05\x00\x00\x00\xe8(....)/gs) {
      my $at = $-[0];
      push @at, $at;
      $target{$at + 10 + unpack("l<", $1)} = 1;
    }
    if (@at != 2 || keys(%target) != 1) {
      warn "install-courier: $file: login delay not found, left as is\n";
      exit 0;
    }
    for my $at (@at) { seek($fh, $at + 1, 0); print $fh "\x00"; }
    close($fh) or die "$file: $!\n";
  ' "$staged/$bin"
done
echo "$wanted" | "${sudo_cmd[@]}" tee "$staged/.installed" >/dev/null
"${sudo_cmd[@]}" mkdir -p "$(dirname "$root")"
"${sudo_cmd[@]}" rm -rf "$root"
"${sudo_cmd[@]}" mv "$staged" "$root"
