# What deploy needs to know of a host, in one round trip: `@arch` and
# `uname -m`; then, from inside the bin directory, the `stat` line of each
# deployed program that exists, `@manifest` and the manifest, and `@sha`
# (cached-sha256.sh follows it, with the same `stat` lines in `prog_stats`,
# and prints the hashes, hashing only programs whose stat line differs from
# the manifest's). After `@arch`, nothing when the directory is missing.
# Read by deploy.rs.
#
# labctl runs it (hostops.rs `programs_state_cmd`) in a subshell after a
# header setting, shell-quoted:
#   bin     the bin directory
#   m       the manifest's file name
#   fmt     the `stat -c` format of its lines
#   names   the programs' names, space separated (fixed names)
# shellcheck shell=sh
# shellcheck disable=SC2154 # set by the header

echo "@arch $(uname -m)"
cd -- "$bin" 2>/dev/null || exit 0
# One `stat` (cached-sha256.sh reads `prog_stats` too); the manifest read with builtins.
# shellcheck disable=SC2086 # names is a word list
prog_stats=$(stat -c "$fmt" -- $names 2>/dev/null)
[ -z "$prog_stats" ] || printf '%s\n' "$prog_stats"
echo @manifest
if [ -f "$m" ]; then
    while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done <"$m"
fi
echo @sha
