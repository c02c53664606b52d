# Gives the lab interface its address through NetworkManager: labctl's own
# connection profile for it (made, or set again when it exists: found by its
# name, `id`), manual IPv4 with the lab address only, IPv6 left to the
# kernel as `ip` leaves it, preferred over the image's own connection when
# the host boots (autoconnect priority 100), then activated (which takes the
# interface from the image's DHCP connection). `labctl clean
# --restore-network` deletes it (nm-restore.sh).
# Template rendered by hostops.rs `configure_nm_cmd`.
# Placeholders: @S@ the sudo prefix (raw), @DEV@ the lab interface,
# @CIDR@ the lab address, @PROFILE@ labctl's profile.
# shellcheck shell=sh
{ if nmcli -g connection.id connection show id @PROFILE@ >/dev/null 2>&1; then @S@nmcli connection modify id @PROFILE@ connection.interface-name @DEV@ ipv4.method manual ipv4.addresses @CIDR@ ipv6.method ignore connection.autoconnect yes connection.autoconnect-priority 100; else @S@nmcli connection add type ethernet con-name @PROFILE@ ifname @DEV@ ipv4.method manual ipv4.addresses @CIDR@ ipv6.method ignore connection.autoconnect yes connection.autoconnect-priority 100 >/dev/null; fi && @S@nmcli connection up id @PROFILE@ >/dev/null; }
