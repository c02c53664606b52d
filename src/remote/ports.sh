# shellcheck shell=sh
# The lab's ports on this host: what `check`'s lab-port row and the start of a `run` (in the
# agent, as it takes the hold) both read. Parsed by check/facts.rs.
# lab_ports: for each port the lab's servers bind here (`ports`: `tcp:N udp:N ...`), `@port PROTO
# N` and the sockets of that protocol listening on it, each with its processes and owner (`ss -p -e`,
# which scans every process's fds: only when the one cheaper `ss` of all the ports shows one; through `ss_sudo` where
# that may, to see other users' processes), then `@user UID NAME` for each owner. For TCP, when
# another socket has that local port (e.g. TIME_WAIT), a bind is tried as the lab's server does
# it (`bindir`'s tcp_server, SO_REUSEADDR); `@bindfail PROTO N` and those sockets when it fails.
# With `lp_foreign` set, only what labctl did not start: a socket whose process's group is
# registered in `P` (lib.sh) is left out.
# shellcheck disable=SC2154 # ports, bindir, ss_sudo, P: set by the caller
lab_ports() {
    uids=' '
    # One `ss` for every port (a process each costs milliseconds on a Pi): every TCP and UDP
    # socket bound to one of them, in any state, each line `PROTO STATE RECV SEND LOCAL PEER`.
    lf=
    for p in $ports; do lf="$lf${lf:+ or }sport = :${p#*:}"; done
    lall=
    [ -z "$lf" ] || lall=$(ss -tuanH "( $lf )" 2>/dev/null)
    for p in $ports; do
        proto=${p%%:*}; port=${p#*:}
        echo "@port $proto $port"
        # Its sockets of that protocol: listening (LISTEN or UNCONN, what `ss -l` lists) or not.
        lis='' oth=''
        while read -r ln ls rq sq la pa; do
            if [ "$ln" = "$proto" ] && [ "${la##*:}" = "$port" ]; then
                case $ls in
                    LISTEN | UNCONN) lis=1 ;;
                    # As `ss -tan` shows it: without the protocol.
                    *) oth="$oth$ls $rq $sq $la $pa
" ;;
                esac
            fi
        done <<LP
$lall
LP
        if [ -n "$lis" ]; then
            # shellcheck disable=SC2086 # ss_sudo: empty or two words
            o=$($ss_sudo ss -ltnupeH "sport = :$port" 2>/dev/null || ss -ltnupeH "sport = :$port" 2>/dev/null)
            while IFS= read -r l; do
                case $l in "$proto "*) ;; *) continue ;; esac
                pid=${l#*pid=}
                pid=${pid%%[!0-9]*}
                if [ -n "$lp_foreign" ] && [ -n "$pid" ] && lp_pgrp "$pid" && [ -f "$P/$sv" ]; then
                    continue
                fi
                u=0
                case $l in *" uid:"*) u=${l#* uid:}; u=${u%%[!0-9]*} ;; esac
                case $uids in *" $u "*) ;; *) uids="$uids$u " ;; esac
                printf '%s\n' "$l"
            done <<LP
$o
LP
        elif [ "$proto" = tcp ] && [ -n "$oth" ] && [ -x "$bindir/tcp_server" ]; then
            # Another socket has that local port (e.g. TIME_WAIT): a bind as the lab's server does it.
            r=$(timeout 1 "$bindir/tcp_server" --port "$port" </dev/null 2>&1)
            case $r in *"in use"*) echo "@bindfail $proto $port"; printf '%s' "$oth" ;; esac
        fi
        echo @top
    done
    for u in $uids; do
        while IFS=: read -r n _ i _; do
            [ "$i" != "$u" ] || { echo "@user $u $n"; break; }
        done </etc/passwd
    done
}
# lp_pgrp PID: sets sv to the process group of PID (field 5 of /proc/PID/stat)
lp_pgrp() {
    read -r sv 2>/dev/null <"/proc/$1/stat" || return 1
    sv=${sv##*) }
    # shellcheck disable=SC2086 # the fields, split on purpose
    set -- $sv
    sv=$3
}
