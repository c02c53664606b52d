
# labctl: step ids after --step, --from and --to, read at each TAB from the lab
# file named on the command line (`--lab`, `--hosts`), by `labctl list --ids`.
function __fish_labctl_step_ids
    set -l words (commandline -opc)
    set -l args
    for i in (seq 2 (count $words))
        switch $words[$i]
            case --lab --hosts
                set -l j (math $i + 1)
                if test $j -le (count $words)
                    set -a args $words[$i] $words[$j]
                end
            case '--lab=*' '--hosts=*'
                set -a args $words[$i]
        end
    end
    $words[1] $args list --ids 2>/dev/null
end
complete -c labctl -n "__fish_seen_subcommand_from run plan" -l step -x -a "(__fish_labctl_step_ids)"
complete -c labctl -n "__fish_seen_subcommand_from run plan" -l from -x -a "(__fish_labctl_step_ids)"
complete -c labctl -n "__fish_seen_subcommand_from run plan" -l to -x -a "(__fish_labctl_step_ids)"
