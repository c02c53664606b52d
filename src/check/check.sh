# The check script: gathers every fact about one host and pings its peers in
# the background, forking as little as it can (builtins read /sys): 30 hosts
# share this machine's cores on the virtual bench. Output: `key=value` lines,
# raw command output under `@section` lines, `ping=`, `mgr_*=` and
# `NTPSynchronized=` lines anywhere (background jobs), and `@end` last;
# parsed by check/facts.rs. Its first line is the host's clock
# (`<epoch>.<ns>`, `date`): `check` reads it as the clock row's sample, whose
# end is that line's arrival (check/clock.rs), so it comes before anything else.
# labctl runs it under `sh` (check/run.sh): dash on Debian and Raspberry Pi OS
# forks far more cheaply than the login's bash, and every `$(…)` is a fork.
#
# labctl runs it after a header (check/script.rs) that sets, shell-quoted:
#   dir         /sys/class/net/INTERFACE
#   iface       the lab interface
#   cidr        the host's lab address, ADDR/PREFIX
#   tools       the tools the lab needs, space separated
#   check_sudo  non-empty when the hosts file says sudo
#   workdir     the host's workdir
#   bindir      where the socket programs are deployed
#   ports       the ports the lab's servers bind on this host, `tcp:N udp:N ...`
#   ss_sudo     `sudo -n ` when the hosts file says sudo, else empty
# and defines the functions
#   pings       one background ping job per peer, each printing `ping=ADDR ok|fail`
#   sha         `HASH  NAME` of each deployed program (cached by the manifest)
#   interp_version  the program set's interpreter's version line, or `@missing`
#               (defined when `interp_name`, the interpreter, is not empty)
#   lab_commands  `cmd=NAME PATH|@missing` for each command the lab's programs
#               run here (`cmds`), `nosudo=`/`noroot=` for those run as root
#               (`sudo_cmds`) that this login may not run so (programs/commands.sh)
# shellcheck shell=sh
# shellcheck disable=SC2154 # set by the header

# rights: what the lab's configure and capture steps need, actually tried
# (as root, or through `sudo -n` with check_sudo): `ip link set … up` on a
# link already up is a no-op that still needs CAP_NET_ADMIN; tcpdump is run
# for a second on the lab interface (through sudo, `tcpdump --version`).
# With sudo_all, sudo's rules allow both already. `@ipfail`/`@dumpfail` are
# followed by the whole stderr.
rights() {
    echo "uid=$uid"
    fl=0; read -r fl 2>/dev/null <"$dir/flags"
    pre=; [ -n "$check_sudo" ] && pre="sudo -n"
    if [ -n "$sudo_all" ]; then
        e=
    elif [ $((fl & 1)) = 1 ]; then
        # shellcheck disable=SC2086 # $pre is empty or two words
        e=$($pre ip link set dev "$iface" up 2>&1)
    else
        # shellcheck disable=SC2086
        e=$($pre ip link show dev "$iface" 2>&1)
    fi
    # shellcheck disable=SC2181
    if [ $? = 0 ]; then echo rights_ip=ok; ip_ok=1; else echo @ipfail; printf '%s\n' "$e"; echo @top; fi
    if [ -n "$sudo_all" ]; then
        e=
    elif [ -n "$check_sudo" ]; then
        e=$(sudo -n tcpdump --version 2>&1)
    elif [ "$uid" = 0 ]; then
        e=
    else
        e=$(timeout 1 tcpdump -i "$iface" -c 1 -w /dev/null 2>&1)
        case $? in 0|124) ;; *) false ;; esac
    fi
    # shellcheck disable=SC2181
    if [ $? = 0 ]; then echo rights_dump=ok; else echo @dumpfail; printf '%s\n' "$e"; echo @top; fi
}

# workdir_facts: the workdir (or its nearest existing parent) takes a file,
# and the free space there in KiB. `@wdfail` is followed by the whole stderr.
workdir_facts() {
    d=$workdir
    while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done
    echo "wd_dir=$d"
    t="$d/.labctl-check.$$"
    # The file made empty: dash names the reason a file cannot be made (read-only, permission, no
    # inode left) but reports a failed write as a bare `I/O error`; a full disk is the free space's.
    if e=$( { : >"$t"; } 2>&1 ); then
        echo wd_write=ok
    else
        echo @wdfail; printf '%s\n' "$e"; echo @top
    fi
    rm -f -- "$t" 2>/dev/null
    wo=$(df -Pk -- "$d" 2>/dev/null)
    avail=
    # Its last line, the filesystem's (`-P`: one line each).
    while read -r _ _ _ wf _; do avail=$wf; done <<WD
$wo
WD
    echo "wd_free_kb=$avail"
}

# sudo_list: sets sudo_all when `sudo -n -l` lists, as this login's last
# rule, one that runs anything as root without a password (Raspberry Pi OS's
# `010_pi-nopasswd`, Imager's user's): sudoers applies the last rule that
# matches, so that one sudo proves what rights' two, the manager's and
# lab_commands' each would (every process counts: 30 virtual hosts share
# this machine's cores). Not with `requiretty` in force (a command without
# a terminal is refused where a listing is not). Any other answer leaves
# sudo_all empty, and each command is tried as before.
sudo_list() {
    sl=$(sudo -n -l 2>/dev/null) || return 0
    r=
    while IFS= read -r l; do
        case $l in
            *" requiretty"*) return 0 ;;
            "    ("*) r=$l ;;
        esac
    done <<SL
$sl
SL
    case $r in
        "    (ALL) NOPASSWD: ALL" | "    (ALL : ALL) NOPASSWD: ALL" | "    (root) NOPASSWD: ALL") sudo_all=1 ;;
    esac
}

# manager: who manages the lab interface, in the background (nmcli takes
# tens of milliseconds), one `mgr_*=` line per fact: NetworkManager's state
# for it, its connection and that connection's IPv4 method (asked only when
# it is not labctl's own profile, `labctl-IFACE`), whether sudo allows
# `nmcli` (with check_sudo); a running dhcpcd (its pid file) and a static
# address for the interface in /etc/dhcpcd.conf.
manager() {
    if command -v nmcli >/dev/null 2>&1; then
        if s=$(nmcli -t -g GENERAL.STATE,GENERAL.CONNECTION device show "$iface" 2>/dev/null); then
            echo "mgr_nm_state=${s%%
*}"
            con=${s#*
}
            [ "$con" = "$s" ] && con=
            echo "mgr_nm_con=$con"
            if [ -n "$con" ] && [ "$con" != "labctl-$iface" ]; then
                echo "mgr_nm_method=$(nmcli -g ipv4.method connection show id "$con" 2>/dev/null)"
            fi
            if [ -n "$check_sudo" ] && [ "${s%% *}" != 10 ]; then
                if [ -n "$sudo_all" ] || e=$(sudo -n -l nmcli 2>&1 >/dev/null); then
                    echo mgr_nm_sudo=ok
                else
                    echo "mgr_nm_sudofail=$(printf '%s\n' "$e" | tr '\n' ' ')"
                fi
            fi
        else
            s=$(nmcli -t -g GENERAL.STATE device show "$iface" 2>&1)
            echo "mgr_nm_off=$(printf '%s\n' "$s" | tr '\n' ' ')"
        fi
    fi
    for f in /run/dhcpcd/pid /run/dhcpcd.pid "/run/dhcpcd/$iface.pid" "/run/dhcpcd-$iface.pid"; do
        p=; read -r p 2>/dev/null <"$f" || continue
        if [ -n "$p" ] && [ -d "/proc/$p" ]; then
            echo "mgr_dhcpcd=$p"
            a=$(sed -n "/^interface $iface\$/,/^interface /s/^static ip_address=//p" /etc/dhcpcd.conf 2>/dev/null)
            echo "mgr_dhcpcd_static=$a"
            break
        fi
    done
}

# The clock's sample first: its line's arrival ends it.
date +%s.%N
LC_ALL=C; export LC_ALL; PATH="$PATH:/usr/sbin:/sbin"
sudo_all=
[ -z "$check_sudo" ] || sudo_list
[ -e "$dir" ] && manager &
# Whether a time server set the clock: timedatectl's own `NTPSynchronized=yes|no` line, one
# write, in the background; none when it cannot tell (no systemd, no bus). At most 3 s a call
# (without a bus it may wait for one): sd-bus's own bound (systemd 246 and later), not a
# `timeout` process.
if command -v timedatectl >/dev/null 2>&1; then
    SYSTEMD_BUS_TIMEOUT=3 timedatectl show -p NTPSynchronized 2>/dev/null &
else
    echo NTPSynchronized=missing
fi
# Pings only from a host that has its lab address: without it every ping waits out its timeout.
a=$(ip -o -4 addr show dev "$iface" 2>/dev/null)
case "$a" in *" $cidr "*) pings ;; esac
# The kernel's machine name, `uname -m`'s (Linux 6.1 has it in /proc: no process).
ar=; read -r ar 2>/dev/null </proc/sys/kernel/arch || [ -n "$ar" ] || ar=$(uname -m)
echo "arch=$ar"
# Foreign architectures this kernel runs through binfmt_misc (qemu-user): `binfmt=qemu-aarch64`.
for b in /proc/sys/fs/binfmt_misc/*; do
    st=; read -r st 2>/dev/null <"$b" && [ "$st" = enabled ] && echo "binfmt=${b##*/}"
done
for i in /sys/class/net/*; do echo "iflist=${i##*/}"; done
if [ -e "$dir" ]; then
    echo iface=yes; o=; c=
    read -r o 2>/dev/null <"$dir/operstate"
    read -r c 2>/dev/null <"$dir/carrier"
    echo "operstate=$o"; echo "carrier=$c"
fi
echo @addr; printf '%s\n' "$a"
echo @top
for t in $tools; do command -v "$t" >/dev/null 2>&1 && echo "tool=$t"; done
if [ -n "$interp_name" ]; then echo "interp=$interp_name $(interp_version)"; fi
lab_commands
# The login's uid (`pc_u`: lab_commands asked already).
uid=${pc_u:-$(id -u)}
ip_ok=
rights
# sudo works without a password: `sudo -n -l` lists what it allows, which the sudoers line
# labctl suggests (`ip` and `tcpdump` only) passes, where `sudo -n true` would be refused.
# With sudo, rights' `sudo -n ip` that passed says so already (every process counts: 30
# virtual hosts share this machine's cores).
if [ -n "$check_sudo" ]; then
    if [ -n "$ip_ok" ]; then
        echo sudo=ok
    elif e=$(sudo -n -l 2>&1 >/dev/null); then
        echo sudo=ok
    else
        echo @sudofail; printf '%s\n' "$e"; echo @top
    fi
elif sudo -n -l >/dev/null 2>&1; then
    echo sudo_could=yes
fi
workdir_facts
lab_ports
echo @sha
sha
wait
echo @end
