# Prints the version line of the program set's interpreter on this host
# (`Python 3.11.2`), or `@missing` when it is not on the PATH; read by
# programs.rs (`probe`) before a run starts anything.
#
# labctl runs it after a header setting, shell-quoted:
#   interp  the interpreter's name (`python3`)
# shellcheck shell=sh
# shellcheck disable=SC2154 # set by the header

if command -v "$interp" >/dev/null 2>&1; then
    "$interp" --version 2>&1 | head -n 1
else
    echo @missing
fi
