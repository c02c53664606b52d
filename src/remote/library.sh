# The functions every `lc_*` call runs with: the wrapper's text, then
# lib.sh and hold.sh. Template rendered by remote/mod.rs `lib`.
# Placeholders: @WRAPPER@ wrap.sh (quoted: the value of `lc_wrapper`),
# @LIB@ lib.sh and @HOLD@ hold.sh (raw).
# shellcheck shell=sh disable=SC2034 # read by lib.sh
lc_wrapper=@WRAPPER@
@LIB@@HOLD@
