# What `check` sends a host: the check script (check.sh, whose first line is the host's clock),
# then who holds the bench (hold.sh `lc_held`), on one SSH channel (each channel is a process of
# sshd's and a login shell on the host), run by `sh`: dash on Debian and Raspberry Pi OS, whose
# forks (every `$(…)` and background job) cost far less than the login's bash. Template rendered
# by check/script.rs `command`.
# Placeholders: @SCRIPT@ the check script and the holder's, one after the other (quoted).
# shellcheck shell=sh
exec sh -c @SCRIPT@ labctl-check
