# Prints the `stat` line of each deployed program that exists (nothing when
# the bin directory is missing). Template rendered by hostops.rs
# `programs_stat_cmd`.
# Placeholders: @BIN@ the bin directory, @FMT@ the `stat -c` format,
# @NAMES@ the programs' names (raw: fixed names, space separated).
# shellcheck shell=sh
cd -- @BIN@ 2>/dev/null && stat -c @FMT@ -- @NAMES@ 2>/dev/null; true
