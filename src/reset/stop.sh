# What `labctl reset` does on one host once it listed it (see src/reset.rs), after the
# header and library every `lc_*` call runs with (remote/mod.rs).
# Template rendered by reset.rs `stop_cmd`.
# Placeholders: @PIDS@ the processes to stop, `PID:START` each (START as the survey
# read it: a pid reused since is left alone), @UNADDR@ `1` to remove the lab address,
# @IFACE@ the lab interface, @CIDR@ the host's lab address.
# Stops every group labctl registered (`lc_stop_all`: its `stopped`/`alive` lines), then
# each process of PIDS that is still the one listed, runs as this login and is not a
# system service (its cgroup is not under `system.slice`), in this host's network namespace: INT, then TERM, then KILL, about
# 3 s each; prints `killed PID`, `survived PID` (after KILL), `gone PID` (it had ended),
# `other PID` (another user's now), `service PID` (left alone). Then the lab address goes (`unaddr CIDR`, or `@unaddrfail`
# and ip's words), and the run directories killed labctls left (`lc_tidy_runs`: those a note
# names stay).
# shellcheck shell=sh
# shellcheck disable=SC2154 # P, S: set by the header; statf: lib.sh
LC_ALL=C; export LC_ALL; PATH="$PATH:/usr/sbin:/sbin"
pids=@PIDS@ unaddr=@UNADDR@ iface=@IFACE@ cidr=@CIDR@
lc_stop_all
me=$(id -u)
todo=
for w in $pids; do
    pid=${w%%:*} st=${w#*:}
    if ! statf "$pid" 20 || [ "$sv" != "$st" ]; then echo "gone $pid"; continue; fi
    u=
    while read -r k a _; do [ "$k" != Uid: ] || u=$a; done 2>/dev/null <"/proc/$pid/status"
    # shellcheck disable=SC3013 # -ef: in POSIX.1-2024's test, and in dash's, busybox's and bash's
    if [ "$u" != "$me" ] || [ "$me" = 0 ] || ! [ "/proc/$pid/ns/net" -ef /proc/self/ns/net ]; then
        echo "other $pid"
        continue
    fi
    c=
    while IFS= read -r l; do case $l in *system.slice/*) c=1 ;; esac; done 2>/dev/null <"/proc/$pid/cgroup"
    [ -z "$c" ] || { echo "service $pid"; continue; }
    todo="$todo $pid"
done
for sig in INT TERM KILL; do
    [ -n "$todo" ] || break
    # shellcheck disable=SC2086 # pids, split on purpose
    kill -s "$sig" $todo 2>/dev/null
    i=0
    while [ $i -lt 150 ]; do
        left=
        for pid in $todo; do
            ! statf "$pid" 1 || [ "$sv" = Z ] || left="$left $pid"
        done
        [ -n "$left" ] || break
        sleep 0.02
        i=$((i + 1))
    done
    for pid in $todo; do
        case "$left " in *" $pid "*) ;; *) echo "killed $pid" ;; esac
    done
    todo=$left
done
for pid in $todo; do echo "survived $pid"; done
if [ -n "$unaddr" ]; then
    # shellcheck disable=SC2086 # S: the sudo prefix, empty or two words
    if e=$($S ip addr del "$cidr" dev "$iface" 2>&1); then echo "unaddr $cidr"; else echo @unaddrfail; echo "$e"; fi
fi
lc_tidy_runs
exit 0
