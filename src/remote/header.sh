# The values lib.sh reads, on the line before every `lc_*` call. Template
# rendered by remote/mod.rs `header`.
# Placeholders: @S@ the sudo prefix (`sudo -n ` or empty), @P@ the procs
# directory, @D@ the run's directory, @RUN@ the run id (empty for none),
# @K@ the deployed programs' directory.
# shellcheck shell=sh disable=SC2034 # read by lib.sh
S=@S@; P=@P@; D=@D@; RUN=@RUN@; K=@K@
