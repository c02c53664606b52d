# Pings a peer over the lab interface; exit 0 when a reply came. Template
# rendered by hostops.rs `ping_cmd`.
# Placeholders: @DEV@ the lab interface, @COUNT@ how many echo requests,
# @WAIT@ seconds to wait for each reply, @TARGET@ the peer's address.
# shellcheck shell=sh
ping -n -q -I @DEV@ -c @COUNT@ -W @WAIT@ @TARGET@
