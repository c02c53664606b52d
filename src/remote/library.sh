# The functions every `lc_*` call runs with: the wrapper's text, then
# lib.sh, hold.sh and ports.sh. Template rendered by remote/mod.rs `lib`.
# Placeholders: @WRAPPER@ wrap.sh (quoted: the value of `lc_wrapper`),
# @LIB@ lib.sh, @HOLD@ hold.sh and @PORTS@ ports.sh (raw).
# shellcheck shell=sh disable=SC2034 # read by lib.sh
lc_wrapper=@WRAPPER@
@LIB@@HOLD@@PORTS@
