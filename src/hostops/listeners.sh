# Lists the sockets listening on a port (TCP and UDP) with their processes,
# one per line. Template rendered by hostops.rs `listeners_cmd`.
# Placeholders: @S@ the sudo prefix (raw: `sudo -n ` or empty), @FILTER@ the
# `ss` filter, `sport = :PORT`.
# shellcheck shell=sh
@S@ss -ltnupH @FILTER@
