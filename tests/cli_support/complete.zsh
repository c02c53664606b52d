# tests/cli_support/complete.zsh: presses TAB twice after a command line in an
# interactive zsh (a pseudo-terminal, zsh/zpty) with labctl's completions
# installed, and prints what the terminal showed (the offered candidates).
# Reads until WANT appears or 20 s pass (no timing is asserted).
# Usage: zsh -f complete.zsh FPATH_DIR 'labctl run --step II.' WANT
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='> '; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'zstyle ":completion:*" list-prompt ""; zstyle ":completion:*" menu no'
zpty -w -n z "$2"$'\t\t'
seen=""
for _ in {1..200}; do
    while zpty -r -t z line; do seen+=$line; done
    [[ $seen == *"$3"* ]] && sleep 0.5 && break
    sleep 0.1
done
while zpty -r -t z line; do seen+=$line; done
print -rn -- "$seen"
zpty -d z
