# The check script as sent: the values and functions check.sh reads (see
# its opening comment), then check.sh. Template rendered by check/script.rs
# `script_for`.
# Placeholders: @IFACE@ the lab interface, @CIDR@ the host's lab address,
# @TOOLS@ the tools the lab needs (space separated), @CHECK_SUDO@ `1` when
# the hosts file says sudo, else empty (raw), @PINGS@ one ping-block.sh line
# per peer (raw), @WORKDIR@ the workdir, @BINDIR@ the bin directory,
# @PORTS@ `tcp:N udp:N ...`, @SS_SUDO@ the sudo prefix, @SHA@ hostops.rs
# `cached_sha256_cmd_for` (raw), @INTERP_NAME@ the set's interpreter (empty
# for none), @INTERP_VERSION@ interp-version.sh rendered, or empty (raw),
# @LAB_CMDS@ the commands the lab's programs run on this host, @LAB_SUDO@
# those run as root (both space separated), @COMMANDS@ programs/commands.sh
# (raw), @CHECK@ check.sh (raw).
# shellcheck shell=sh disable=SC2034 # read by @CHECK@
dir=/sys/class/net/@IFACE@
iface=@IFACE@
cidr=@CIDR@
tools=@TOOLS@
check_sudo=@CHECK_SUDO@
pings() {
@PINGS@  :
}
workdir=@WORKDIR@
bindir=@BINDIR@
ports=@PORTS@
ss_sudo=@SS_SUDO@
sha() {
@SHA@
}
interp_name=@INTERP_NAME@
cmds=@LAB_CMDS@
sudo_cmds=@LAB_SUDO@
use_sudo=$check_sudo
lab_commands() {
@COMMANDS@
}
@INTERP_VERSION@@CHECK@
