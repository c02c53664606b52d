# Looks for the commands a lab's programs run on this host: before a run
# starts anything (programs.rs `probe`) and in `labctl check` (the body of
# check.sh's `lab_commands`). Prints, one a line:
#   cmd=NAME PATH          the command and where the login's PATH finds it
#   cmd=NAME @missing      the host lacks it
#   nosudo=NAME REASON     `sudo -n` refuses NAME (with use_sudo): sudo's first line
#   noroot=NAME UID        NAME must run as root, but the login is not (without use_sudo)
#   rootok=NAME            NAME may run as root (through sudo, or the login is root)
#
# labctl runs it after a header setting, shell-quoted:
#   cmds       the commands, space separated (words: no blanks, quotes or globs)
#   sudo_cmds  those of them that run as root, space separated
#   use_sudo   non-empty when the login runs them through `sudo -n`
#   sudo_all   (check.sh) non-empty when sudo runs anything as root for it
# shellcheck shell=sh
# shellcheck disable=SC2154 # set by the header

for pc_c in $cmds; do
    if pc_p=$(command -v "$pc_c"); then echo "cmd=$pc_c $pc_p"; else echo "cmd=$pc_c @missing"; fi
done
# The login's (effective) uid, `id -u`'s: from the shell's own /proc/self/status (its second
# `Uid:` field), read with builtins; `id` only where that cannot be read.
pc_u=
while read -r pc_k _ pc_e _; do
    [ "$pc_k" != Uid: ] || { pc_u=$pc_e; break; }
done 2>/dev/null </proc/self/status
[ -n "$pc_u" ] || pc_u=$(id -u)
for pc_c in $sudo_cmds; do
    pc_p=$(command -v "$pc_c") || continue
    if [ -n "$use_sudo" ]; then
        # `sudo -l CMD` says whether sudoers lets this login run CMD, running nothing (in
        # `labctl check`, sudo_all: its one listing said so for every command).
        if [ -n "$sudo_all" ] || pc_e=$(sudo -n -l "$pc_p" 2>&1 >/dev/null); then
            echo "rootok=$pc_c"
        else
            pc_e=$(printf '%s\n' "$pc_e" | head -n 1)
            echo "nosudo=$pc_c ${pc_e:-sudoers does not allow $pc_p}"
        fi
    elif [ "$pc_u" != 0 ]; then
        echo "noroot=$pc_c $pc_u"
    else
        echo "rootok=$pc_c"
    fi
done
