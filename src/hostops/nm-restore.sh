# Undoes `configure` (`labctl clean --restore-network`): deletes labctl's
# NetworkManager profile for the lab interface, if there is one
# (NetworkManager then activates the image's own connection by itself;
# `@profile NAME` says it was deleted, `@now NAME` names what the interface
# has after at most 2 s, empty while NetworkManager picks or still names
# the deleted profile), then removes the
# lab address if it is still on the interface (`ip`: a host without
# NetworkManager; `@address CIDR`).
# Template rendered by hostops.rs `restore_network_cmd`.
# Placeholders: @S@ the sudo prefix (raw), @DEV@ the lab interface,
# @CIDR@ the lab address, @PROFILE@ labctl's profile.
# shellcheck shell=sh
if nmcli -g connection.id connection show id @PROFILE@ >/dev/null 2>&1; then
    @S@nmcli connection delete id @PROFILE@ >/dev/null || exit
    echo "@profile "@PROFILE@
    # Right after the delete, the device may still name the deleted profile for a moment.
    n=0
    while :; do
        c=$(nmcli -t -g GENERAL.CONNECTION device show @DEV@ 2>/dev/null) || c=
        [ "$c" = @PROFILE@ ] && c=
        if [ -n "$c" ] || [ "$n" -ge 20 ]; then break; fi
        n=$((n + 1))
        sleep 0.1
    done
    echo "@now $c"
fi
if ip -o -4 addr show dev @DEV@ 2>/dev/null | grep -q -F " "@CIDR@" "; then
    @S@ip addr del @CIDR@ dev @DEV@ || exit
    echo "@address "@CIDR@
fi
