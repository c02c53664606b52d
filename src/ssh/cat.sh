# Prints a file's contents. Template rendered by ssh `cat_cmd`, used to
# download a file and to fetch a run's capture (on a channel of its own).
# Placeholders: @PATH@ the file.
# shellcheck shell=sh
cat -- @PATH@
