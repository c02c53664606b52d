# The check script: gathers every fact about one host and pings its peers in
# the background, forking as little as it can (builtins read /sys): 30 hosts
# share this machine's cores on the virtual bench. Output: `key=value` lines,
# raw command output under `@section` lines, `ping=` lines anywhere
# (background jobs), and `@end` last; parsed by check/facts.rs.
#
# labctl runs it after a header (check/script.rs) that sets, shell-quoted:
#   dir         /sys/class/net/INTERFACE
#   iface       the lab interface
#   cidr        the host's lab address, ADDR/PREFIX
#   tools       the tools the lab needs, space separated
#   check_sudo  non-empty when the hosts file says sudo
# and defines the functions
#   pings       one background ping job per peer, each printing `ping=ADDR ok|fail`
#   probe       true when something may listen on the lab port
#   listeners   the sockets on the lab port with their processes
#   sha         `HASH  NAME` of each deployed program (cached by the manifest)
#   interp_version  the program set's interpreter's version line, or `@missing`
#               (defined when `interp_name`, the interpreter, is not empty)
# shellcheck shell=sh
# shellcheck disable=SC2154 # set by the header

LC_ALL=C; export LC_ALL; PATH="$PATH:/usr/sbin:/sbin"
# Pings only from a host that has its lab address: without it every ping waits out its timeout.
a=$(ip -o -4 addr show dev "$iface" 2>/dev/null)
case "$a" in *" $cidr "*) pings ;; esac
echo "arch=$(uname -m)"
for i in /sys/class/net/*; do echo "iflist=${i##*/}"; done
if [ -e "$dir" ]; then
    echo iface=yes; o=; c=
    read -r o 2>/dev/null <"$dir/operstate"
    read -r c 2>/dev/null <"$dir/carrier"
    echo "operstate=$o"; echo "carrier=$c"
fi
echo @addr; echo "$a"
echo @top
for t in $tools; do command -v "$t" >/dev/null 2>&1 && echo "tool=$t"; done
if [ -n "$interp_name" ]; then echo "interp=$interp_name $(interp_version)"; fi
if [ -n "$check_sudo" ]; then
    if e=$(sudo -n true 2>&1); then echo sudo=ok; else echo @sudofail; echo "$e"; fi
fi
echo @listen
# `ss -p` scans every process's fds: only when a cheaper `ss` shows a listener.
if probe; then listeners; fi
echo @sha
sha
wait
echo @end
