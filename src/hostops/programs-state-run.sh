# Runs programs-state.sh, then cached-sha256.sh, in a subshell after the
# values they read. Template rendered by hostops.rs `programs_state_cmd`.
# Placeholders: @BIN@ the bin directory, @MANIFEST@ the manifest's file name,
# @FMT@ the `stat -c` format of its lines, @NAMES@ the programs' names
# (quoted as one word), @SCRIPT@ programs-state.sh (raw), @CACHED@
# cached-sha256.sh (raw).
# shellcheck shell=sh disable=SC2034 # the values are read by @SCRIPT@
( bin=@BIN@; m=@MANIFEST@; fmt=@FMT@; names=@NAMES@
@SCRIPT@
@CACHED@)
