# The boot of one host of the virtual bench: run by `labctl testbed up` (and
# `reimage`) as root in the host's network namespace, its own UTS namespace
# and a private mount namespace (`unshare --uts --mount --propagation
# private`), so nothing it mounts is seen on this machine. It names the host,
# mounts the host's account files and home (a login that is not root), and
# with NetworkManager gives the host a private /run with its own D-Bus
# system bus, its own NetworkManager directories, /sys read-only, and starts
# dbus-daemon and NetworkManager, waiting until NetworkManager manages the
# lab interface; then it becomes the host's sshd (`exec`), whose sessions
# share this mount namespace (so `nmcli` over SSH reaches this host's bus).
# Template rendered by testbed/sshd.rs `boot_script`.
# Placeholders: @HOSTNAME@ the host's name, @BINDS@ `bind SOURCE TARGET`
# lines (raw, their values quoted), @NM@ `1` with NetworkManager, else empty
# (raw), @NM_ETC@ and @NM_LIB@ the host's NetworkManager directories,
# @DBUS_CONF@ the bus config, @LOGS@ the host's directory (its logs),
# @IFACE@ the lab interface, @SSHD@ sshd's path, @CONFIG@ its config.
# shellcheck shell=sh
set -eu
hostname @HOSTNAME@
bind() { mount --bind "$1" "$2"; }
@BINDS@
nm=@NM@
logs=@LOGS@
iface=@IFACE@
# wait_for WHAT TRIES: runs `ready` every 20 ms until it succeeds, at most TRIES times.
wait_for() {
    n=0
    until ready; do
        n=$((n + 1))
        if [ "$n" -ge "$2" ]; then
            echo "host-boot: $1 not ready after $((n / 50)) s: see $logs" >&2
            exit 1
        fi
        sleep 0.02
    done
}
if [ -n "$nm" ]; then
    mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
    mkdir -p /run/sshd /run/dbus
    bind @NM_ETC@ /etc/NetworkManager
    bind @NM_LIB@ /var/lib/NetworkManager
    mount -o remount,ro /sys
    dbus-daemon --config-file=@DBUS_CONF@ --nofork --nopidfile </dev/null >>"$logs/dbus.log" 2>&1 &
    ready() { [ -S /run/dbus/system_bus_socket ]; }
    wait_for dbus-daemon 500
    NetworkManager --debug </dev/null >>"$logs/nm.log" 2>&1 &
    # Managed: `disconnected` (30) or further on, with a connection to activate.
    ready() {
        s=$(nmcli -t -g GENERAL.STATE device show "$iface" 2>/dev/null) && [ "${s%% *}" -ge 30 ]
    }
    wait_for NetworkManager 1000
fi
exec @SSHD@ -D -r -e -f @CONFIG@
