# shellcheck shell=sh
# The bench's hold on this host (see `src/hold.rs`): one labctl at a time changes a host.
# `<workdir>/lock/` (made with mkdir: atomic, one taker wins) holds `holder`, key=value lines:
# `user`, `machine`, `pid` (the controlling labctl's), `command`, `run`, `since` (epoch s),
# and the process on this host whose life is the hold: `agent` (pid), `start` (its start
# time), `boot` (boot id), and that process's SSH session: `sshd`, `sshd_start`. The hold is
# live while both are: it ends when labctl ends it, when labctl's connection drops (the
# session ends; the process reads end-of-input), on SIGKILL of either, and on a reboot
# (another boot id). A hold that is not live is taken over.
# A run's hold also names `seen`: the file where its agent notes when its labctl was last
# heard (`heard`, the seconds of /proc/uptime: a clock no one sets). A live holder whose labctl
# has been silent for 10 s or more (`STALE`: a laptop asleep, a connection dropped without a
# FIN) is stale: another labctl may take it over, only when asked to (`take-over`), which ends
# the stale agent and its run's programs and notes who took it in that run's `.taken`.
# Expects the variables and functions of lib.sh (`P`, `B`, `statf` and the `sv` it sets).
# shellcheck disable=SC2154 # sv: set by statf (lib.sh)
W=${P%/procs}
L=$W/lock
STALE=10
# heard FILE: notes in FILE that labctl was heard now (uptime seconds, overwritten in place: a
# full disk does not empty it)
heard() { read -r up _ </proc/uptime && printf '%12s\n' "${up%.*}" 2>/dev/null 1<>"$1"; }
# silence FILE: sets sl to the seconds since FILE's `heard` (empty when unknown)
silence() {
  sl='' x=''
  [ -n "$1" ] && read -r x 2>/dev/null <"$1" || return 0
  read -r up _ </proc/uptime
  case $x in '' | *[!0-9]*) ;; *) sl=$((${up%.*} - x)) ;; esac
}
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
  h_agent='' h_start='' h_boot='' h_sshd='' h_sshd_start='' h_seen='' h_run=''
  while IFS='=' read -r k val; do
    case $k in
      agent) h_agent=$val ;; start) h_start=$val ;; boot) h_boot=$val ;;
      sshd) h_sshd=$val ;; sshd_start) h_sshd_start=$val ;;
      seen) h_seen=$val ;; run) h_run=$val ;;
    esac
  done 2>/dev/null <"$1"
  [ -n "$h_agent" ] && [ "$h_boot" = "$B" ] && up "$h_agent" "$h_start" || return 1
  [ -z "$h_sshd" ] || up "$h_sshd" "$h_sshd_start"
}
# lc_hold USER MACHINE PID COMMAND RUN [SINCE [TAKE]]: takes the hold for this shell (`$$`, which a
# subshell keeps). Prints `held`; before it, `stale` and the old holder's lines when a hold whose
# holder is gone was taken over, or `taken`, its lines and `silent=N` when a stale one was
# (TAKE is `take-over`). When a live labctl holds: `busy`, its lines and `silent=N` (seconds since
# it was heard, when known), status 5. SINCE (epoch seconds) is labctl's clock, which every
# labctl reading it compares with its own (a Pi without network time has no right one); the
# host's `date` without it. `hs`, when set, is where this holder's labctl is `heard` (a run's).
lc_hold() {
  [ -d "$W" ] || (umask 077 && mkdir -p "$W") || return 1
  statf $$ 20 || return 1
  st=$sv
  sshd_of $$
  since=${6:-$(date +%s)} take=$7 tk=
  me="user=$1
machine=$2
pid=$3
command=$4
run=$5
since=$since
agent=$$
start=$st
boot=$B
sshd=$sp
sshd_start=$sps${hs:+
seen=$hs}"
  i=0
  while [ $i -lt 50 ]; do
    i=$((i + 1))
    if e=$(mkdir "$L" 2>&1); then
      # Through `cat`: it names a failed write (`No space left on device`).
      if printf '%s\n' "$me" | cat >"$L/.holder" && mv -f "$L/.holder" "$L/holder"; then
        ended_notes 1
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
        silence "$h_seen"
        if [ -n "$sl" ] && [ "$sl" -ge $STALE ] && [ "$take" = take-over ] && [ -z "$tk" ]; then
          # Stale, and asked to: its agent and programs end (a subshell: stopgroups' variables).
          tk=$sl
          (take_over)
          continue
        fi
        echo busy
        cat "$L/holder"
        [ -z "$sl" ] || echo "silent=$sl"
        return 5
      fi
      # Not live: set it aside (a rename: one taker wins) and make sure it is the one judged.
      old=$W/.lock-stale.$$
      if mv "$L" "$old" 2>/dev/null; then
        if live "$old/holder"; then
          mv "$old" "$L" 2>/dev/null
        else
          if [ -n "$tk" ]; then echo taken; else echo stale; fi
          cat "$old/holder"
          [ -z "$tk" ] || echo "silent=$tk"
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
# ended_notes [FORGET]: a line `ended<TAB>RUN<TAB>AT<TAB>WHY<TAB>DIR` for each run this host ended
# by itself (`lc_orphan`, lib.sh), and with FORGET the notes go (the command holding the bench
# has named them)
ended_notes() {
  for f in "$W"/.ended-*; do
    [ -f "$f" ] || continue
    e_run='' e_at='' e_why='' e_dir=''
    while IFS='=' read -r k val; do
      case $k in run) e_run=$val ;; at) e_at=$val ;; why) e_why=$val ;; dir) e_dir=$val ;; esac
    done 2>/dev/null <"$f"
    printf 'ended\t%s\t%s\t%s\t%s\n' "$e_run" "$e_at" "$e_why" "$e_dir"
    [ -z "$1" ] || rm -f "$f"
  done
}
# take_over: the live holder `live` read (h_agent, h_start, h_run), silent for `sl` s, is taken
# over by `me`: its run notes who took it and when (`.taken`, which its labctl reads when it wakes),
# its agent ends (TERM to its group; CONT in case it was stopped), and its run's programs are
# stopped as `stop` does. Run in a subshell.
take_over() {
  r=$W/runs/$h_run
  [ -z "$h_run" ] || [ ! -d "$r" ] || printf '%s\nsilent=%s\n' "$me" "$sl" 2>/dev/null >"$r/.taken"
  # The run's groups, read before its agent ends: the agent's own end stops them too, and a
  # wrapper removes its file as it ends, before its program may have.
  set --
  [ -z "$h_run" ] || for g in $(registered); do getf run "$g"; [ "$v" != "$h_run" ] || set -- "$@" "$g"; done
  for s in TERM CONT; do kill -"$s" -"$h_agent" 2>/dev/null || kill -"$s" "$h_agent" 2>/dev/null; done
  n=0
  while up "$h_agent" "$h_start" && [ $n -lt 300 ]; do sleep 0.01; n=$((n + 1)); done
  [ -n "$h_run" ] || return 0
  # shellcheck disable=SC2034 # read by stopgroups (lib.sh)
  early=
  stopgroups "$@" >/dev/null
  # Whatever of them another stop is still ending: waited for (3 s at most), so the lab's
  # ports are free when the new run looks at them.
  n=0
  for g in "$@"; do
    while kill -0 -"$g" 2>/dev/null && [ $n -lt 300 ]; do sleep 0.01; n=$((n + 1)); done
  done
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
# lc_held: the live holder's lines, if any, and `silent=N` when its labctl's last tick is known
# (read-only: `check`)
lc_held() {
  ended_notes
  live "$L/holder" || return 0
  cat "$L/holder"
  silence "$h_seen"
  [ -z "$sl" ] || echo "silent=$sl"
}
# lc_why: why this run's agent ended when labctl did not end it: `.taken` (another labctl took
# the bench over) or `.ended` (this host ended the run), their lines after a `taken` or `ended`
# line (read-only)
lc_why() {
  for w in taken ended; do
    [ ! -f "$D/.$w" ] || { echo "$w"; cat "$D/.$w"; return 0; }
  done
}
# run_live RUN: another run whose agent still runs on this host, connected (its programs are
# not leftovers). `.agent` is `PID START BOOT SSHD SSHD_START` (see lc_agent).
run_live() {
  [ -n "$1" ] && [ "$1" != "$RUN" ] || return 1
  a='' as='' ab='' s='' ss=''
  read -r a as ab s ss 2>/dev/null <"$W/runs/$1/.agent" || return 1
  [ "$ab" = "$B" ] && up "$a" "$as" && { [ -z "$s" ] || up "$s" "$ss"; }
}
