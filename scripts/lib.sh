# scripts/lib.sh: shell functions the scripts share (bash). Source it:
#   . "$(dirname "$0")/lib.sh"

# install_deps PACKAGE...: installs, with apt-get and without questions, the
# Debian packages among PACKAGE... that are not installed yet (as root, or
# through `sudo -n`). Exits 4 when it cannot.
install_deps() {
    local me="scripts/${0##*/}" package
    local missing=()
    for package in "$@"; do
        _installed "$package" || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    echo "$me: installing missing packages: ${missing[*]}"
    local sudo=()
    if ((EUID != 0)); then
        if command -v sudo >/dev/null; then
            sudo=(sudo -n)
        else
            echo "$me: not root and no sudo: install ${missing[*]}" >&2
            exit 4
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture: answer it up front.
    echo 'wireshark-common wireshark-common/install-setuid boolean false' \
        | "${sudo[@]}" debconf-set-selections
    "${sudo[@]}" apt-get update </dev/null
    # NetworkManager is for the virtual bench's hosts, inside their namespaces:
    # it must not start (nor start at boot) on this machine's own network.
    local guard=
    if [[ " ${missing[*]} " == *" network-manager "* && ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\n# scripts/lib.sh: no service starts while it installs packages\nexit 101\n' \
            | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
        guard=1
    fi
    local status=0
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}" </dev/null || status=$?
    if [[ -n $guard ]]; then
        "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
        if command -v systemctl >/dev/null; then
            "${sudo[@]}" systemctl disable NetworkManager.service NetworkManager-wait-online.service \
                >/dev/null 2>&1 || true
        fi
    fi
    return "$status"
}

_installed() {
    # python3 may come from elsewhere (pyenv, a venv): a working one will do.
    if [[ $1 == python3 ]] && command -v python3 >/dev/null; then
        return 0
    fi
    # So may node and npm (e.g. NodeSource's nodejs, which carries npm).
    if [[ $1 == nodejs || $1 == npm ]] && command -v "${1%js}" >/dev/null; then
        return 0
    fi
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# The virtual bench's hosts (`labctl testbed up`): their sshd, the tools the
# lab runs there, NetworkManager and its bus. For the scripts that bring a
# bench up.
# shellcheck disable=SC2034 # used by the scripts that source this file
BENCH_PACKAGES=(openssh-server iproute2 iputils-ping tcpdump procps coreutils network-manager dbus-daemon)

# ARM hosts: the Debian packages the ARM builds and the ARM virtual bench
# need (qemu-user-static runs ARM programs; the cross gcc and its libc link
# armv7; sudo is what `pi` hosts use).
# shellcheck disable=SC2034 # used by the scripts that source this file
ARM_PACKAGES=(sudo qemu-user-static gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)

# install_rust_targets: adds the rustup targets labctl builds ARM hosts'
# programs for (aarch64 links with rust-lld, which ships with rustup).
install_rust_targets() {
    command -v rustup >/dev/null || return 0
    local installed target
    installed=$(rustup target list --installed 2>/dev/null || true)
    for target in aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf; do
        grep -qx "$target" <<<"$installed" || rustup target add "$target" </dev/null
    done
}

# perf_section NAME: replaces NAME's section of docs/performance.md (the
# lines between `<!-- NAME: begin` and `<!-- NAME: end`) with a line saying
# when, on what and from which commit it was measured, then stdin (the
# figures as a Markdown table): the page is printed by the benchmarks,
# never copied by hand. DOCS=0 leaves the page alone (a trial run).
perf_section() {
    local name=$1 page=docs/performance.md body rev
    [ "${DOCS:-1}" != 0 ] || { cat >/dev/null; return 0; }
    if ! grep -q "^<!-- $name: begin" "$page" || ! grep -q "^<!-- $name: end" "$page"; then
        echo "scripts/${0##*/}: $page has no section \`$name\`; the figures are not written" >&2
        cat >/dev/null
        return 0
    fi
    body=$(mktemp)
    if rev=$(git rev-parse --short HEAD 2>/dev/null); then
        git diff --quiet HEAD -- . ':!docs/performance.md' || rev="$rev with changes"
    else
        rev=unknown
    fi
    {
        printf "Last measured %s by \`scripts/%s\` (\`%s\`; %s cores, load average %s):\n\n" \
            "$(date -u '+%Y-%m-%d %H:%M UTC')" "${0##*/}" "$rev" "$(nproc)" \
            "$(cut -d' ' -f1 /proc/loadavg)"
        cat
    } >"$body"
    awk -v b="<!-- $name: begin" -v e="<!-- $name: end" -v f="$body" '
        index($0, b) == 1 { print; while ((getline l < f) > 0) print l; skip = 1; next }
        index($0, e) == 1 { skip = 0 }
        !skip' "$page" >"$page.new" && mv "$page.new" "$page"
    rm -f "$body"
    echo "scripts/${0##*/}: wrote its figures in $page (section \`$name\`)"
}
