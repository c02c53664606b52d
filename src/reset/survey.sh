# What `labctl reset` finds on one host (see src/reset.rs), after the header and
# library every `lc_*` call runs with (remote/mod.rs): nothing is changed.
# Template rendered by reset.rs `survey_cmd`.
# Placeholders: @PORTS@ the lab's ports on this host (`tcp:N udp:N ...`),
# @IFACE@ the lab interface, @CIDR@ the host's lab address.
# Output: `uid=N` (the login), `@ports` and `lab_ports`' lines (ports.sh; what
# labctl did not start), `@groups` and a `PGID NAME STEP RUN` line per group labctl
# registered (`procs`), `@ps` and `PID START PGID UID USER ARGS` per process (START:
# its start time, field 22 of /proc/PID/stat), `@addr` and `yes` when the lab address is on
# the lab interface, `@end`.
# shellcheck shell=sh
# shellcheck disable=SC2154 # P, K, S: set by the header; statf, getf: lib.sh
LC_ALL=C; export LC_ALL; PATH="$PATH:/usr/sbin:/sbin"
echo "uid=$(id -u)"
echo @ports
# shellcheck disable=SC2034 # read by lab_ports (ports.sh)
ports=@PORTS@ bindir=$K ss_sudo=$S lp_foreign=1 iface=@IFACE@ cidr=@CIDR@
lab_ports
echo @groups
for g in $(registered); do
    ours "$g" || continue
    echo "$g $pname $pstep $prun"
done
echo @ps
# Only this host's: on a virtual bench the hosts are network namespaces of one machine, and a
# process of another is not in this one's (`-ef`: the same namespace file; a process whose
# namespace this login may not read is kept, to be listed and left alone).
ps -e -o pid= -o pgid= -o uid= -o user:32= -o args= | while read -r pid pgid uid user args; do
    statf "$pid" 20 || continue
    # shellcheck disable=SC3013 # -ef: in POSIX.1-2024's test, and in dash's, busybox's and bash's
    if [ -r "/proc/$pid/ns/net" ] && ! [ "/proc/$pid/ns/net" -ef /proc/self/ns/net ]; then continue; fi
    echo "$pid $sv $pgid $uid $user $args"
done
echo @addr
a=$(ip -o -4 addr show dev "$iface" 2>/dev/null)
case "$a" in *" $cidr "*) echo yes ;; esac
echo @end
