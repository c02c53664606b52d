# check.sh's `interp_version`: prints the program set's interpreter's
# version line, or `@missing`. Template rendered by check/script.rs
# `script_for` when the set has an interpreter.
# Placeholders: @PROBE@ programs.rs `probe_cmd` (raw).
# shellcheck shell=sh
interp_version() {
@PROBE@
}
