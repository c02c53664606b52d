# Prints, from inside the bin directory, the `stat` line of each deployed
# program that exists, then `@sha` and `sha256sum` of them, then `@manifest`
# and the manifest; nothing when the directory is missing. Read by deploy.rs.
#
# labctl runs it (hostops.rs `programs_state_cmd`) after a header setting,
# shell-quoted:
#   bin     the bin directory
#   m       the manifest's file name
#   fmt     the `stat -c` format of its lines
#   names   the programs' names, space separated (fixed names)
# shellcheck shell=sh
# shellcheck disable=SC2154 # set by the header

# shellcheck disable=SC2086 # names is a word list
cd -- "$bin" 2>/dev/null && {
    stat -c "$fmt" -- $names
    echo @sha
    sha256sum -- $names
    echo @manifest
    cat -- "$m"
} 2>/dev/null
true
