# Removes a directory and everything in it (a run's directory, or all runs
# in `clean`). Template rendered by remote/mod.rs `remove_dir_cmd`.
# Placeholders: @DIR@ the directory.
# shellcheck shell=sh
rm -rf -- @DIR@
