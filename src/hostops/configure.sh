# Gives the lab interface its address so that it stays. Where NetworkManager
# manages the interface (nmcli names its state, and it is not `10
# (unmanaged)`), through labctl's own connection profile (@NM@), since
# NetworkManager removes an address `ip` added when its own DHCP connection
# times out; nothing runs when that profile is already the interface's and
# the address is on and the link up. Elsewhere (no nmcli, NetworkManager not running, or not
# managing the interface) with `ip` (@IP@). A Bullseye image's dhcpcd keeps
# what `ip` adds. Idempotent: it runs before every lab and in `check --fix`.
# Prints `via nm` or `via ip` first: the way it takes (also when it fails).
# Template rendered by hostops.rs `configure_cmd`.
# Placeholders: @DEV@ the lab interface, @CIDR@ the lab address, @PROFILE@
# labctl's profile (quoted), @NM@ nm-profile.sh and @IP@ configure-ip.sh
# rendered (raw).
# shellcheck shell=sh
nmcli -t -g GENERAL.STATE,GENERAL.CONNECTION device show @DEV@ 2>/dev/null | {
    read -r state _ || state=10
    read -r con || con=
    if [ "$state" = 10 ]; then
        echo via ip
        @IP@
    elif [ "$con" = @PROFILE@ ] && ip -o -4 addr show dev @DEV@ | grep -q -F " "@CIDR@" " &&
        { f=; read -r f 2>/dev/null </sys/class/net/@DEV@/flags; [ $((${f:-0} & 1)) = 1 ]; }; then
        echo via nm
    else
        echo via nm
        @NM@
    fi
}
