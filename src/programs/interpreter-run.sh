# Runs interpreter.sh after the value it reads. Template rendered by
# programs.rs `probe_cmd`.
# Placeholders: @INTERP@ the interpreter's name (`python3`),
# @SCRIPT@ interpreter.sh (raw).
# shellcheck shell=sh disable=SC2034 # read by @SCRIPT@
interp=@INTERP@
@SCRIPT@
