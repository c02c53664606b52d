# labctl: step ids after --step, --from and --to, read at each TAB from the lab
# file named on the command line (`--lab`, `--hosts`: `_arguments` keeps them
# in `opt_args`), by `labctl list --ids`.
_labctl_step_ids() {
    local -a ids opts
    local o
    for o in --lab --hosts; do
        (( ${+opt_args[$o]} )) && opts+=($o ${(Q)opt_args[$o]})
    done
    ids=(${(f)"$(labctl $opts list --ids 2>/dev/null)"})
    compadd -a ids
}
