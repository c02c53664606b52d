# One peer's ping in check.sh's `pings`, in the background: a second try
# when the first gets no reply, then `ping=ADDR ok` or `ping=ADDR fail`.
# Template rendered by check/script.rs `script_for`, one line per peer.
# Placeholders: @PING@ the ping command (raw: hostops.rs `ping_cmd`),
# @ADDR@ the peer's IPv4 address (raw: digits and dots, inside quotes).
# shellcheck shell=sh
  ( if @PING@ >/dev/null 2>&1 || @PING@ >/dev/null 2>&1; then echo 'ping=@ADDR@ ok'; else echo 'ping=@ADDR@ fail'; fi ) &
