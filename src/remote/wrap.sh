# shellcheck shell=sh
# The wrapper a program runs under, as its group's leader (started by `lc_start` as
# `setsid -f sh -c "$lc_wrapper" labctl-proc DIR NAME STEP RUN PROCS BIN PROGRAM ARGS...`).
# It registers the group, prints the group id on its stdout (which `lc_start` waits for)
# and runs the program with stdin from its FIFO (opened read-write: no end-of-file between
# senders), stdout and stderr through stampers: `BIN/labctl-stamp` (deployed with the
# socket programs; one process per stream, no process per line) writes `<epoch.ns> <line>`
# to NAME.out / NAME.err and streams each line to the run's FIFO `.stream`, which the
# run's agent relays to labctl. When the program ends: `@@x NAME STATUS PGID` into the FIFO;
# when its output has ended too (every line is in): `@@e NAME PGID`. The wrapper and the
# stampers ignore SIGINT so they record the program's last lines; the program does not.
d=$1 n=$2 step=$3 run=$4 P=$5 K=$6
shift 6
trap '' INT HUP
g=$$
read -r b </proc/sys/kernel/random/boot_id
read -r s </proc/$g/stat
s=${s##*) }
# field20 FIELDS...: the leader's start time (field 20 after the command name)
field20() { shift 19; st=$1; }
# shellcheck disable=SC2086 # split on purpose: the fields of /proc/PID/stat
field20 $s
# `sudo=1`: the program runs through sudo (a capture), see `signal` in lib.sh.
su=0
[ "$1" != sudo ] || su=1
# Written in place, in one write (no `mv`: a process, a millisecond on a Pi). Stops read it
# under the bench's hold, after `lc_start` returned; one that still finds it empty leaves it
# (`ours` in lib.sh).
printf 'name=%s\nstep=%s\nrun=%s\nboot=%s\nstart=%s\nsudo=%s\n' "$n" "$step" "$run" "$b" "$st" "$su" >"$P/$g" ||
  rm -f "$P/$g"
# A stop mark left by an earlier group of this number (no stop can have found this one yet).
[ ! -e "$P/$g.stop" ] || rm -f "$P/$g.stop"
# Its stdin, held open here for the wrapper's life (read-write, fd 4), before `lc_start` returns:
# a FIFO that nobody holds drops what was written into it, so a line sent the moment the program
# started would be lost while the program was not reading yet.
exec 4<>"$d/$n.in"
echo "$g" >"$d/$n.pgid"
echo "$g"
exec >/dev/null
# The frames go to the run's FIFO (outside the agent, nowhere).
F=/dev/null
[ ! -p "$d/.stream" ] || F=$d/.stream
# stamp_sh FILE STREAM [SAID]: the stamper in shell, one `date` per line; lines longer than 4 KB may
# interleave in the stream (the files stay whole). A record it cannot write is said once on the
# stream (`@@w`, as labctl-stamp does; not again when SAID), and the lines still stream.
stamp_sh() {
  w=$3
  while IFS= read -r l; do
    t=$(date +%s.%N)
    if ! printf '%s %s\n' "$t" "$l" 2>/dev/null >>"$d/$n.$1" && [ -z "$w" ]; then
      w=$(df -Pk -- "$d" 2>/dev/null | awk 'NR == 2 { print $4 }')
      [ "$w" = 0 ] && w='No space left on device' || w='cannot write'
      printf '@@w %s %s: %s\n' "$n" "$d/$n.$1" "$w" 1<>"$F"
    fi
    printf '@@l %s %s %s %s\n' "$n" "$2" "$t" "$l" 1<>"$F"
  done
}
if [ -x "$K/labctl-stamp" ]; then
  # stamp FILE STREAM. A stamper that ends before its input (killed, or one an older labctl
  # deployed, which ended at a record it could not write) must not take its program with it (a
  # write into a pipe nobody reads kills the writer, SIGPIPE): its last words go on the stream
  # (`@@w`) and the shell loop reads on.
  stamp() {
    e=$("$K/labctl-stamp" "$d/$n.$1" "$F" "$n" "$2" 2>&1 >/dev/null 4<&-) && return
    rc=$? nl='
'
    e=${e#labctl-stamp: } e=${e%%"$nl"*}
    printf '@@w %s %s\n' "$n" "${e:-$d/$n.$1: labctl-stamp ended with status $rc}" 1<>"$F"
    stamp_sh "$1" "$2" 1
  }
else
  # Without the deployed stamper (a lab without a `deploy` step).
  stamp() { stamp_sh "$@"; }
fi
{ { (
  trap - INT HUP
  # A stop that came before the line above (right after `lc_start` returned) found SIGINT
  # still ignored here; it marked the group first (`signal` in lib.sh): no program then.
  [ ! -e "$P/$g.stop" ] || exit 130
  "$@" <&4 4<&-
  rc=$?
  # Not when a program of the same name has started since (a capture counts as stopped before
  # it exits, see `flushed` in lib.sh): its status file is not this one's.
  c=
  read -r c 2>/dev/null <"$d/$n.pgid"
  [ "$c" != "$g" ] || echo "$rc" 2>/dev/null >"$d/$n.rc"
  printf '@@x %s %s %s\n' "$n" "$rc" "$g" 1<>"$F"
) 2>&1 1>&3 3>&- | stamp err 2; } 3>&1 | stamp out 1; }
printf '@@e %s %s\n' "$n" "$g" 1<>"$F"
exec rm -f "$P/$g" "$P/$g.stop"
