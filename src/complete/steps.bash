
# labctl: step ids after --step, --from and --to, read at each TAB from the lab
# file named on the command line (`--lab`, `--hosts`), by `labctl list --ids`.
_labctl_step_ids() {
    local i w args=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
            --lab|--hosts) args+=("$w" "${COMP_WORDS[i+1]}") ;;
            --lab=*|--hosts=*) args+=("$w") ;;
        esac
    done
    "${COMP_WORDS[0]}" "${args[@]}" list --ids 2>/dev/null
}
_labctl_with_steps() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        --step|--from|--to)
            mapfile -t COMPREPLY < <(compgen -W "$(_labctl_step_ids)" -- "$cur")
            return 0
            ;;
    esac
    _labctl "$@"
}
complete -F _labctl_with_steps -o bashdefault -o default labctl
