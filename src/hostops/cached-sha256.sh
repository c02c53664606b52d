# Prints `HASH  NAME` (sha256sum style) for each deployed program that exists,
# hashing only those whose `stat` line differs from the manifest's (all of
# them without a manifest): shell builtins compare, one `stat` runs, and a
# manifest line is trusted only with a 64-character hash.
#
# labctl runs it (hostops.rs `cached_sha256_cmd`) inside a subshell that has
# already entered the bin directory, after a header setting, shell-quoted:
#   m       the manifest's file name
#   fmt     the `stat -c` format of its lines
#   names   the programs' names, space separated (fixed names)
#   prog_stats  (optional) their `stat` lines already read (programs-state.sh)
# shellcheck shell=sh
# shellcheck disable=SC2154 # set by the header

[ -f "$m" ] || m=/dev/null; t=
# shellcheck disable=SC2086 # names is a word list
[ -n "${prog_stats+set}" ] || prog_stats=$(stat -c "$fmt" -- $names 2>/dev/null)
while read -r n s; do
    [ -n "$n" ] || continue; k=
    while read -r h mn ms; do
        if [ ${#h} = 64 ] && [ "$mn $ms" = "$n $s" ]; then echo "$h  $n"; k=1; break; fi
    done <"$m"
    [ -n "$k" ] || t="$t $n"
done <<LABCTL_EOF
$prog_stats
LABCTL_EOF
# shellcheck disable=SC2086 # t is a word list
[ -z "$t" ] || sha256sum -- $t 2>/dev/null; true
