# Prints a file's contents. Template rendered by ssh `cat_cmd`, used to
# download a file, and to fetch a run's capture once its agent stopped answering.
# Placeholders: @PATH@ the file.
# shellcheck shell=sh
cat -- @PATH@
