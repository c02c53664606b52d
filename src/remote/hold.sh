# shellcheck shell=sh
# The bench's hold on this host (see `src/hold.rs`): one labctl at a time changes a host.
# `<workdir>/lock/` (made with mkdir: atomic, one taker wins) holds `holder`, key=value lines:
# `user`, `machine`, `pid` (the controlling labctl's), `command`, `run`, `since` (epoch s),
# and the process on this host whose life is the hold: `agent` (pid), `start` (its start
# time), `boot` (boot id), and that process's SSH session: `sshd`, `sshd_start`. The hold is
# live while both are: it ends when labctl ends it, when labctl's connection drops (the
# session ends; the process reads end-of-input), on SIGKILL of either, and on a reboot
# (another boot id). A hold that is not live is taken over.
# Expects the variables and functions of lib.sh (`P`, `B`, `statf` and the `sv` it sets).
# shellcheck disable=SC2154 # sv: set by statf (lib.sh)
W=${P%/procs}
L=$W/lock
# up PID START: process PID is alive and is the one that started at START (not a reused pid)
up() { [ -n "$1" ] && statf "$1" 20 && [ "$sv" = "$2" ] && statf "$1" 1 && [ "$sv" != Z ] && [ "$sv" != X ]; }
# sshd_of PID: sets sp and sps to the pid and start time of PID's nearest sshd ancestor (the
# session of its SSH connection: it ends when the connection does, even if PID cannot act)
sshd_of() {
  sp='' sps='' p=$1 n=0
  while [ -n "$p" ] && [ "$p" -gt 1 ] && [ $n -lt 12 ]; do
    c=
    read -r c 2>/dev/null <"/proc/$p/comm"
    case $c in sshd*) statf "$p" 20 && sp=$p sps=$sv; return 0 ;; esac
    statf "$p" 2 || return 1
    p=$sv n=$((n + 1))
  done
  return 1
}
# live FILE: the holder described in FILE still holds: its process lives, on this boot, and
# so does its SSH session (sets h_agent)
live() {
  h_agent='' h_start='' h_boot='' h_sshd='' h_sshd_start=''
  while IFS='=' read -r k val; do
    case $k in
      agent) h_agent=$val ;; start) h_start=$val ;; boot) h_boot=$val ;;
      sshd) h_sshd=$val ;; sshd_start) h_sshd_start=$val ;;
    esac
  done 2>/dev/null <"$1"
  [ -n "$h_agent" ] && [ "$h_boot" = "$B" ] && up "$h_agent" "$h_start" || return 1
  [ -z "$h_sshd" ] || up "$h_sshd" "$h_sshd_start"
}
# lc_hold USER MACHINE PID COMMAND RUN [SINCE]: takes the hold for this shell (`$$`, which a subshell
# keeps). Prints `held`; before it, `stale` and the old holder's lines when a hold whose
# holder is gone was taken over. When a live labctl holds: `busy` and its lines, status 5.
# SINCE (epoch seconds) is labctl's clock, which every labctl reading it compares with its own
# (a Pi without network time has no right one); the host's `date` without it.
lc_hold() {
  [ -d "$W" ] || (umask 077 && mkdir -p "$W") || return 1
  statf $$ 20 || return 1
  st=$sv
  sshd_of $$
  me="user=$1
machine=$2
pid=$3
command=$4
run=$5
since=${6:-$(date +%s)}
agent=$$
start=$st
boot=$B
sshd=$sp
sshd_start=$sps"
  i=0
  while [ $i -lt 50 ]; do
    i=$((i + 1))
    if e=$(mkdir "$L" 2>&1); then
      # Through `cat`: it names a failed write (`No space left on device`).
      if printf '%s\n' "$me" | cat >"$L/.holder" && mv -f "$L/.holder" "$L/holder"; then
        echo held
        return 0
      fi
      rm -rf "$L"
      return 1
    fi
    # Not another taker's: a read-only or full workdir (say so; never "busy").
    if [ ! -d "$L" ]; then
      printf '%s\n' "$e" >&2
      return 1
    fi
    if [ -f "$L/holder" ]; then
      if live "$L/holder"; then
        [ "$h_agent" != $$ ] || { echo held; return 0; }
        echo busy
        cat "$L/holder"
        return 5
      fi
      # Not live: set it aside (a rename: one taker wins) and make sure it is the one judged.
      old=$W/.lock-stale.$$
      if mv "$L" "$old" 2>/dev/null; then
        if live "$old/holder"; then
          mv "$old" "$L" 2>/dev/null
        else
          echo stale
          cat "$old/holder"
          rm -rf "$old"
        fi
      fi
      continue
    fi
    # A holder being written (or a taker that died between mkdir and write: gone after 5 s).
    # shellcheck disable=SC2046 # one number, or none
    set -- $(stat -c %Y "$L" 2>/dev/null) 0
    if [ $(($(date +%s) - $1)) -gt 5 ] && [ ! -f "$L/holder" ]; then
      rmdir "$L" 2>/dev/null
      continue
    fi
    sleep 0.1
  done
  echo busy
  cat "$L/holder" 2>/dev/null
  return 5
}
# lc_release: ends this shell's hold (another's is left alone)
lc_release() {
  v=
  while IFS='=' read -r k val; do [ "$k" != agent ] || v=$val; done 2>/dev/null <"$L/holder"
  [ "$v" != $$ ] || rm -rf "$L"
}
# lc_holder ARGS: `lc_hold ARGS` held by this shell until its input ends (`clean`, `check --fix`)
lc_holder() {
  trap 'lc_release; exit 0' HUP TERM
  lc_hold "$@"
  rc=$?
  echo "@@hold $rc"
  [ $rc = 0 ] || exit $rc
  while read -r _; do :; done
  lc_release
}
# lc_held: the live holder's lines, if any (read-only: `check`)
lc_held() { ! live "$L/holder" || cat "$L/holder"; }
# run_live RUN: another run whose agent still runs on this host, connected (its programs are
# not leftovers). `.agent` is `PID START BOOT SSHD SSHD_START` (see lc_agent).
run_live() {
  [ -n "$1" ] && [ "$1" != "$RUN" ] || return 1
  a='' as='' ab='' s='' ss=''
  read -r a as ab s ss 2>/dev/null <"$W/runs/$1/.agent" || return 1
  [ "$ab" = "$B" ] && up "$a" "$as" && { [ -z "$s" ] || up "$s" "$ss"; }
}
