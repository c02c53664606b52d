# Gives the lab interface its address and brings the link up; idempotent
# (`ip addr replace`). Template rendered by hostops.rs `configure_cmd`.
# Placeholders: @S@ the sudo prefix (raw: `sudo -n ` or empty), @CIDR@ the
# host's lab address `ADDR/PREFIX`, @DEV@ the lab interface.
# shellcheck shell=sh
@S@ip addr replace @CIDR@ dev @DEV@ && @S@ip link set @DEV@ up
