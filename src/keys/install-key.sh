# Installs labctl's public key for the login (`labctl keys install`), as
# ssh-copy-id does: `~/.ssh` (0700) and `authorized_keys` (0600) made if
# missing, the key appended on a line of its own unless a line already holds
# it (idempotent: never a duplicate). Prints `added` or `present`.
# Template rendered by keys.rs `install_cmd`.
# Placeholders: @KEY@ the public key line (`TYPE BASE64 COMMENT`), @BLOB@
# its `TYPE BASE64`, both quoted.
# shellcheck shell=sh
umask 077
f="$HOME/.ssh/authorized_keys"
mkdir -p "$HOME/.ssh" && chmod 700 "$HOME/.ssh" && touch "$f" && chmod 600 "$f" || exit
if grep -q -F -e @BLOB@ "$f"; then
    echo present
else
    # A last line without its newline would join the key's line.
    if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]; then echo >>"$f"; fi
    printf '%s\n' @KEY@ >>"$f" && echo added
fi
