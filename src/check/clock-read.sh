# `check --fix`'s reading of the host's clock before it sets it: the clock now (`<epoch>.<ns>`,
# the one line: its arrival is the sample's end). `check` itself reads the clock in its one
# round trip (check.sh's first line). Read by check/clock.rs.
# shellcheck shell=sh
date +%s.%N
