# The second half of a virtual host's boot (`host-boot.sh` runs it in the
# host's root): with NetworkManager, a machine id where the image has none
# (as a first boot makes it), Netplan's profiles generated into /run (as its
# systemd generator does at boot), its own `dbus-daemon --system` and
# NetworkManager, waiting until NetworkManager manages the lab interface;
# then it becomes the host's sshd (`exec`).
# Template rendered by testbed/sshd.rs `boot_script`.
# Placeholders: @NM@ `1` with NetworkManager, else empty (raw), @LOGS@ the
# host's directory (its logs), @DBUS_CONF@ the bus config, @IFACE@ the lab
# interface, @SSHD@ sshd's path in the root, @FLAGS@ sshd's flags (raw),
# @CONFIG@ its config.
# shellcheck shell=sh
set -eu
nm=@NM@
logs=@LOGS@
iface=@IFACE@
# wait_for WHAT TRIES: runs `ready` every 20 ms until it succeeds, at most TRIES times.
wait_for() {
    n=0
    until ready; do
        n=$((n + 1))
        if [ "$n" -ge "$2" ]; then
            echo "host-start: $1 not ready after $((n / 50)) s: see $logs" >&2
            exit 1
        fi
        sleep 0.02
    done
}
if [ -n "$nm" ]; then
    if [ ! -s /etc/machine-id ] && command -v dbus-uuidgen >/dev/null 2>&1; then
        dbus-uuidgen --ensure=/etc/machine-id
    fi
    if command -v netplan >/dev/null 2>&1 && [ -d /etc/netplan ]; then
        netplan generate >>"$logs/netplan.log" 2>&1 ||
            echo "host-start: netplan generate failed: see $logs/netplan.log" >&2
    fi
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
exec @SSHD@ -D @FLAGS@-e -f @CONFIG@
