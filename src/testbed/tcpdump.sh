# `tcpdump` on a host of the virtual bench with its own clock (`testbed up --clock`), bound over
# the host's own (testbed/clock.rs): a capture's frames carry the kernel's times, this
# machine's, so labctl's testbed writes the capture file itself with the host's clock's times
# (`labctl testbed clock-tcpdump`), as a Raspberry Pi whose clock is wrong writes it.
# Template rendered by testbed/clock.rs `tcpdump_wrapper`.
# Placeholders: @LABCTL@ labctl's binary, @DIR@ the host's clock directory as the host sees it.
# shellcheck shell=sh
exec @LABCTL@ testbed clock-tcpdump --dir @DIR@ -- "$@"
