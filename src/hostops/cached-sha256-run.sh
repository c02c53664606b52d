# Runs cached-sha256.sh in a subshell inside the bin directory, after the
# values it reads; nothing when the directory is missing. Template rendered
# by hostops.rs `cached_sha256_cmd_for`.
# Placeholders: @BIN@ the bin directory, @MANIFEST@ the manifest's file name,
# @FMT@ the `stat -c` format of its lines, @NAMES@ the programs' names
# (quoted as one word), @SCRIPT@ cached-sha256.sh (raw).
# shellcheck shell=sh disable=SC2034 # the values are read by @SCRIPT@
( cd -- @BIN@ 2>/dev/null || exit 0
m=@MANIFEST@; fmt=@FMT@; names=@NAMES@
@SCRIPT@)
