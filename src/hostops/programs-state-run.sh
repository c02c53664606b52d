# Runs programs-state.sh after the values it reads. Template rendered by
# hostops.rs `programs_state_cmd`.
# Placeholders: @BIN@ the bin directory, @MANIFEST@ the manifest's file name,
# @FMT@ the `stat -c` format of its lines, @NAMES@ the programs' names
# (quoted as one word), @SCRIPT@ programs-state.sh (raw).
# shellcheck shell=sh disable=SC2034 # the values are read by @SCRIPT@
bin=@BIN@; m=@MANIFEST@; fmt=@FMT@; names=@NAMES@
@SCRIPT@
