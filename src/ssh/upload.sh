# Writes stdin to a file with a mode: under a temporary name in the same
# directory (created if missing), then an atomic rename, so a running
# program is never overwritten in place; the temporary file goes on failure.
# Template rendered by session.rs `Session::upload`.
# Placeholders: @DIR@ the directory, @TMP@ the temporary file, @MODE@ the
# mode in octal, @PATH@ the file.
# shellcheck shell=sh disable=SC2015,SC2086 # `|| {…}` runs when any step fails; $rc is a number
mkdir -p @DIR@ && umask 077 && cat > @TMP@ && chmod @MODE@ @TMP@ && mv -f @TMP@ @PATH@ || { rc=$?; rm -f @TMP@; exit $rc; }
