# Runs commands.sh after the values it reads. Template rendered by
# programs.rs `commands_cmd`.
# Placeholders: @CMDS@ the commands, @SUDO_CMDS@ those run as root (both
# space separated), @USE_SUDO@ `1` when the login uses `sudo -n`, else
# empty (raw), @SCRIPT@ commands.sh (raw). No sudo_all: each command is asked.
# shellcheck shell=sh disable=SC2034 # read by @SCRIPT@
cmds=@CMDS@
sudo_cmds=@SUDO_CMDS@
use_sudo=@USE_SUDO@
sudo_all=
@SCRIPT@
