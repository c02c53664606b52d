# labctl: step ids after --step, --from and --to, read at each TAB from the lab
# file named on the command line (`--lab`, `--hosts`), by `labctl list --ids`.
_labctl_step_ids() {
    local -a ids opts
    local i
    for ((i = 1; i < CURRENT; i++)); do
        case $words[i] in
            --lab|--hosts) opts+=($words[i] $words[i+1]) ;;
            --lab=*|--hosts=*) opts+=($words[i]) ;;
        esac
    done
    ids=(${(f)"$(labctl $opts list --ids 2>/dev/null)"})
    compadd -a ids
}
