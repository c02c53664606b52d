# The host's clock now, then whether a time server set it: `yes` or `no` (timedatectl's
# NTPSynchronized), `unknown` (timedatectl cannot tell: no systemd, no bus) or `missing` (no
# timedatectl). Rendered by check/clock.rs.
# shellcheck shell=sh
date +%s.%N
if command -v timedatectl >/dev/null 2>&1; then
  # (At most 3 s: without a bus it may wait for one.)
  s=$(timeout 3 timedatectl show -p NTPSynchronized --value 2>/dev/null)
  case $s in yes | no) echo "$s" ;; *) echo unknown ;; esac
else
  echo missing
fi
