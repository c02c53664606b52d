# One round trip of `check` after its facts: the host's clock now (`<epoch>.<ns>`, the first line:
# its arrival is the sample's end), then whether a time server set it: `yes` or `no`
# (timedatectl's NTPSynchronized), `unknown` (timedatectl cannot tell: no systemd, no bus) or
# `missing` (no timedatectl), then @AFTER@'s output (the bench's holder, for `check`; empty for
# `--fix`'s reading before it sets the clock). One channel instead of one per question: every
# channel is a process of sshd's and a shell's on the host. Rendered by check/clock.rs.
# Placeholders: @AFTER@ shell run last (raw).
# shellcheck shell=sh
date +%s.%N
if command -v timedatectl >/dev/null 2>&1; then
  # (At most 3 s: without a bus it may wait for one.)
  s=$(timeout 3 timedatectl show -p NTPSynchronized --value 2>/dev/null)
  case $s in yes | no) echo "$s" ;; *) echo unknown ;; esac
else
  echo missing
fi
@AFTER@
