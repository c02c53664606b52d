# Sets the host's clock to this machine's (`check --fix`): @TIME@ is this machine's time when the
# command is expected to run (unix seconds, its one-way delay added), @S@ the sudo prefix (raw).
# Rendered by check/clock.rs.
# shellcheck shell=sh
t=@TIME@
@S@date -u -s "@$t" >/dev/null
