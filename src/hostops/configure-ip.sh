# Gives the lab interface its address and brings the link up; idempotent
# (`ip addr replace`). A link already up (IFF_UP, bit 0 of its sysfs `flags`,
# read with a builtin) needs no second `ip` (through sudo: milliseconds).
# Template rendered by hostops.rs `configure_ip_cmd` (the branch of
# `configure.sh` where no NetworkManager manages the interface).
# Placeholders: @S@ the sudo prefix (raw: `sudo -n ` or empty), @CIDR@ the
# host's lab address `ADDR/PREFIX`, @DEV@ the lab interface.
# shellcheck shell=sh
@S@ip addr replace @CIDR@ dev @DEV@ && { f=; read -r f 2>/dev/null </sys/class/net/@DEV@/flags; [ $((${f:-0} & 1)) = 1 ] || @S@ip link set @DEV@ up; }
