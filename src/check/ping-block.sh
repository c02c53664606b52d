# One peer's ping in check.sh's `pings`, in the background: a second try
# when the first gets no reply, then `ping=ADDR ok`, or `ping=ADDR fail`
# and ping's own words on stderr (its lines joined by tabs) when it printed any: a ping
# that is not permitted is told from a host that does not answer.
# Template rendered by check/script.rs `script_for`, one line per peer.
# Placeholders: @PING@ the ping command (raw: hostops.rs `ping_cmd`),
# @ADDR@ the peer's IPv4 address (raw: digits and dots, inside quotes).
# shellcheck shell=sh
  ( if e=$(@PING@ 2>&1 >/dev/null) || e=$(@PING@ 2>&1 >/dev/null); then echo 'ping=@ADDR@ ok'; else echo "ping=@ADDR@ fail $(printf %s "$e" | tr '\n' '\t')"; fi ) &
