# A condition, true when something may listen on a port (TCP or UDP) or
# when that cannot be told: guards the costly `ss -p`. Template rendered by
# hostops.rs `port_maybe_used_cond`.
# Placeholders: @FILTER@ the `ss` filter, `sport = :PORT`.
# shellcheck shell=sh
! { x=$(ss -ltnuH @FILTER@ 2>/dev/null) && [ -z "$x" ]; }
