# The host's clock now (`<epoch>.<ns>`): one sample of it against this machine's, taken by
# `check`'s clock row around this command's round trip. Rendered by check/clock.rs.
# shellcheck shell=sh
date +%s.%N
