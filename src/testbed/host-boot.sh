# The boot of one host of the virtual bench: run by `labctl testbed up` (and
# `reimage`) as root in the host's network namespace, its own UTS namespace
# and a private mount namespace (`unshare --uts --mount --propagation
# private`), so nothing it mounts is seen on this machine. It names the
# host; with another OS's root (`--os debian13`) it mounts that root as an
# overlay with the host's own upper directory (a card of its own), a fresh
# /proc, this machine's /dev, /sys read-only, a tmpfs /tmp, the testbed's
# state at the same path, and sets the sysctls a booted system sets
# (`net.ipv4.ping_group_range`); it mounts the host's account files and
# home (a login that is not root), and with NetworkManager a private /run,
# the host's NetworkManager (and Netplan) directories and /sys read-only.
# Then it runs `host-start.sh` (@START@) in that root, which becomes the
# host's sshd: its sessions share this mount namespace.
# Template rendered by testbed/sshd.rs `boot_script`.
# Placeholders: @HOSTNAME@ the host's name, @ROOT@ the OS's root (empty:
# this machine's own userland), @LOGS@ the host's directory, @STATE@ the
# testbed's directory, @BINDS@ `bind SOURCE "$m"TARGET` lines (raw, their
# values quoted), @NM@ `1` with NetworkManager, else empty (raw), @NM_ETC@,
# @NM_LIB@ and @NETPLAN@ the host's NetworkManager and Netplan directories,
# @START@ host-start.sh rendered (quoted).
# shellcheck shell=sh
set -eu
hostname @HOSTNAME@
bind() { mount --bind "$1" "$2"; }
root=@ROOT@
logs=@LOGS@
nm=@NM@
m=
if [ -n "$root" ]; then
    m=$logs/root
    mkdir -p "$m" "$logs/root-upper" "$logs/root-work"
    mount -t overlay overlay -o "lowerdir=$root,upperdir=$logs/root-upper,workdir=$logs/root-work" "$m"
    mount -t proc proc "$m/proc"
    mount --rbind /dev "$m/dev"
    mount -t sysfs -o ro sysfs "$m/sys"
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$m/tmp"
    mkdir -p "$m"@STATE@
    bind @STATE@ "$m"@STATE@
    echo "0 2147483647" >/proc/sys/net/ipv4/ping_group_range
fi
@BINDS@
if [ -n "$nm" ] || [ -n "$root" ]; then
    mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$m/run"
    mkdir -p "$m/run/sshd" "$m/run/dbus"
fi
if [ -n "$nm" ]; then
    bind @NM_ETC@ "$m/etc/NetworkManager"
    bind @NM_LIB@ "$m/var/lib/NetworkManager"
    if [ -n "$root" ]; then
        bind @NETPLAN@ "$m/etc/netplan"
    else
        mount -o remount,ro /sys
    fi
fi
start=@START@
if [ -n "$root" ]; then
    exec chroot "$m" /bin/sh -c "$start" host-start
fi
exec /bin/sh -c "$start" host-start
