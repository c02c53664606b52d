# shellcheck shell=sh
# The functions every lab command on a host runs with (see `src/remote/mod.rs`): process
# groups started, fed, stopped and verified gone, and the run's agent. Expects `S` (sudo
# prefix), `P` (procs dir), `D` (run dir), `RUN` (run id), `K` (the deployed programs'
# dir) and `lc_wrapper` (`wrap.sh`) to be set; labctl puts them before this file.
# Lists of group ids (numbers) are split into words on purpose:
# shellcheck disable=SC2046,SC2086
B=
read -r B 2>/dev/null </proc/sys/kernel/random/boot_id
# Functions that run often set variables instead of printing: no command substitution, no process.
# getf KEY PGID: sets v to a value of the group's procs file (empty when missing)
getf() {
  v=
  while IFS='=' read -r k val; do
    if [ "$k" = "$1" ]; then v=$val; return 0; fi
  done 2>/dev/null <"$P/$2"
}
# procinfo PGID: every key of the group's procs file in one pass (a stop wants them all): sets
# pname, pstep, prun, pboot, pstart and psudo (empty when missing)
procinfo() {
  pname='' pstep='' prun='' pboot='' pstart='' psudo=''
  while IFS='=' read -r k val; do
    case $k in
      name) pname=$val ;; step) pstep=$val ;; run) prun=$val ;;
      boot) pboot=$val ;; start) pstart=$val ;; sudo) psudo=$val ;;
    esac
  done 2>/dev/null <"$P/$1"
}
# statf PID N: sets sv to field N of /proc/PID/stat counted after the command name (1: state, 20: start time)
statf() {
  read -r sv 2>/dev/null <"/proc/$1/stat" || return 1
  sv=${sv##*) }
  set -- "$2" $sv
  shift "$1"
  sv=$1
}
# ours PGID: the registered group is still the one labctl started (else forget it); leaves what
# `procinfo` sets. An empty file is a wrapper's registration being written (not ours yet), or
# with no wrapper left, one that never was (forgotten).
ours() {
  [ -f "$P/$1" ] || return 1
  [ -s "$P/$1" ] || { leader "$1" || rm -f "$P/$1"; return 1; }
  procinfo "$1"
  if [ "$pboot" != "$B" ]; then rm -f "$P/$1"; return 1; fi
  statf "$1" 20 || return 0
  if [ "$sv" != "$pstart" ]; then rm -f "$P/$1"; return 1; fi
}
# leader PGID: the group's leader (the wrapper, which outlives its pipeline) is alive
leader() { [ -n "$1" ] && statf "$1" 1 && [ "$sv" != Z ] && [ "$sv" != X ]; }
# livegroups PGID...: those with a live (non-zombie) process, on one line
livegroups() { ps -e -o pgid= -o stat= | awk -v want=" $* " '$2 !~ /^Z/ && index(want, " " $1 " ") && !seen[$1]++ { printf "%s ", $1 }'; }
# flushed PGID: the group is a capture of this run that has written its last frame: tcpdump
# printed its statistics (its last lines) after its capture loop ended, and with `-U` every frame
# is in its file already. It ends by itself then; closing its packet socket alone takes the
# kernel 15-30 ms (an RCU grace period). The run's worker reads the same lines (`Prog::flushed`).
flushed() {
  getf name "$1"
  [ -n "$v" ] && [ -f "$D/$v.err" ] || return 1
  f='' l=''
  while IFS= read -r x; do
    [ -n "$f" ] || f=$x
    l=$x
  done <"$D/$v.err"
  case $f in *" tcpdump: listening on "*) ;; *) return 1 ;; esac
  case $l in *" dropped by kernel" | *" dropped by interface") return 0 ;; esac
  return 1
}
# signal SIG PGID...: SIG to each group, from this login with the shell's own `kill` (no process;
# `kill -SIG -PGID` is the form dash, bash and busybox all take). A program run through sudo (a
# capture) gets it too: sudo relays the signals a user process sends it to its command, so a stop
# needs no `sudo kill`, which a sudoers line granting only `ip` and `tcpdump` refuses. Past SIGINT,
# the groups run through sudo (`su`) get `sudo kill` as well, where sudoers allows it: a sudo that
# ran its command without staying its parent cannot relay. Each group is marked first (`PGID.stop`
# in the procs dir): a wrapper whose program is not running yet does not start it (`wrap.sh`).
signal() {
  sg=$1 sr=
  shift
  for g in "$@"; do
    : 2>/dev/null >"$P/$g.stop"
    kill -"$sg" -"$g" 2>/dev/null
    case $su in *" $g "*) sr="$sr -$g" ;; esac
  done
  [ "$sg" = INT ] || [ -z "$sr" ] || [ -z "$S" ] || $S kill -s "$sg" -- $sr 2>/dev/null
}
# livegroups_of PGID...: those of the groups with a live process, on one line. A group of the
# login's own programs that `kill -0` no longer finds is gone: no `ps` (the common case where init
# reaps at once). Else `ps` tells: it ignores zombies, and sees the processes of a group run
# through sudo that this login cannot signal.
livegroups_of() {
  lv=
  for g in "$@"; do
    case $su in *" $g "*) lv="$lv $g" ;; *) ! kill -0 -"$g" 2>/dev/null || lv="$lv $g" ;; esac
  done
  [ -z "$lv" ] || livegroups $lv
}
# stopgroups PGID...: INT, then TERM, then KILL (`signal`), each followed by about 3 s for the
# groups to go (the leaders watched with builtins; once they are gone, `livegroups_of` looks for
# any process of the groups); prints `stopped|alive|ended PGID NAME STEP RUN` per group (`ended`:
# it had ended on its own), removes the procs file of each group gone. With `early` set (a step's
# stop), a capture that has flushed counts as stopped without waiting for its exit (it removes its
# own procs file, and the run's end, `lc_stop_run`, waits for whatever is still registered).
stopgroups() {
  # Ours, and what each is, read before stopping (a wrapper removes its procs file as it ends).
  mine='' info='' su=' '
  for g in "$@"; do
    ours "$g" || continue
    mine="$mine $g"
    info="$info$g $pname $pstep $prun
"
    [ "$psudo" != 1 ] || su="$su$g "
  done
  set -- $mine
  [ $# -gt 0 ] || return 0
  # Which groups live: their leaders, read with builtins; a closer look only when a leader is
  # gone (its group may still have processes).
  live=
  for g in "$@"; do leader "$g" && live="$live$g "; done
  [ "$live" = "$* " ] || live=$(livegroups_of "$@")
  first=" $live "
  ending=
  for sig in INT TERM KILL; do
    [ -n "$live" ] || break
    signal $sig $live
    # Looked at every 2 ms for the first 50 ms (most programs are gone by then), then every 10 ms.
    i=0 nap=0.002
    while [ $i -lt 320 ]; do
      up=
      for g in $live; do
        if leader "$g" && ! { [ -n "$early" ] && flushed "$g"; }; then up=1; fi
      done
      if [ -z "$up" ]; then
        rest=
        for g in $live; do
          if [ -n "$early" ] && flushed "$g"; then ending="$ending $g "; else rest="$rest $g"; fi
        done
        # A closer look only at the groups whose leaders are gone.
        [ -z "$rest" ] || rest=$(livegroups_of $rest)
        live=$rest
        [ -n "$live" ] || break
      fi
      [ $i -lt 20 ] || nap=0.01
      sleep $nap
      i=$((i + 1))
    done
  done
  live=" $live"
  gone=
  while read -r g rest; do
    [ -n "$g" ] || continue
    case "$live" in
      *" $g "*) echo "alive $g $rest" ;;
      *) case "$ending" in *" $g "*) ;; *) gone="$gone $P/$g $P/$g.stop" ;; esac
         case "$first" in *" $g "*) echo "stopped $g $rest" ;; *) echo "ended $g $rest" ;; esac ;;
    esac
  done <<EOF
$info
EOF
  [ -z "$gone" ] || rm -f $gone
  [ "$live" = " " ]
}
# registered: the group ids in the procs dir (a glob: no process)
registered() {
  for f in "$P"/*; do
    f=${f##*/}
    case $f in '' | *[!0-9]*) ;; *) echo "$f" ;; esac
  done
}
# lc_sudo_check CMD...: whether `sudo -n` lets this user run each CMD (never
# prompts); prints `nosudo CMD PATH REASON` for each one refused.
lc_sudo_check() {
  # The commands at once (each `sudo -l` takes a few ms); a line each is one write.
  for c in "$@"; do
    (
      p=$(command -v "$c") || p=$c
      if ! e=$(sudo -n -l "$p" 2>&1 >/dev/null); then
        echo "nosudo $c $p $(printf '%s\n' "$e" | head -n 1)"
      fi
    ) &
  done
  wait
}
# lc_port_check PORTS: `lab_ports` (ports.sh) of PORTS (`tcp:N udp:N ...`), only the sockets
# labctl did not start, each line after `port ` (one write each)
lc_port_check() {
  # shellcheck disable=SC2034 # read by lab_ports (ports.sh)
  ports=$1 bindir=$K ss_sudo=$S lp_foreign=1
  lab_ports | while IFS= read -r l; do echo "port $l"; done
}
# sudo_fresh CMDS: `lc_sudo_check CMDS` passed on this boot (`<workdir>/.sudo-ok` holds the boot
# id and CMDS) and no sudoers file (nor `sudoers.d`), group or account file changed since
# (`-nt`: builtins, no process; a `sudo -l` is milliseconds of CPU, more on a Pi).
# sudo_passed CMDS notes a check that passed.
sudo_fresh() {
  f=${P%/procs}/.sudo-ok x=
  read -r x 2>/dev/null <"$f" || return 1
  [ "$x" = "$B $1" ] || return 1
  for x in /etc/sudoers /etc/sudoers.d /etc/sudoers.d/* /etc/group /etc/passwd; do
    # shellcheck disable=SC3013 # -nt: in POSIX.1-2024's test, and in dash's, busybox's and bash's
    [ ! -e "$x" ] || [ "$f" -nt "$x" ] || return 1
  done
}
sudo_passed() { printf '%s %s\n' "$B" "$1" 2>/dev/null >"${P%/procs}/.sudo-ok"; }
# lc_stop_all: every group labctl started on this host; lc_stop_run: this run's
# (never the groups of another run whose agent still runs: a live labctl's, see `run_live`)
lc_stop_all() {
  early=
  lc_stop_agents
  set --
  for g in $(registered); do
    getf run "$g"
    run_live "$v" || set -- "$@" "$g"
  done
  stopgroups "$@"
}
# lc_stop_agents: ends the agents of other runs (a killed labctl's, blocked in a request such as a
# send into a program that never reads) with their process groups; only processes that are agents,
# and never the agent of a live labctl's run (`run_live`).
lc_stop_agents() {
  me=; read -r me _ 2>/dev/null <"$D/.agent"
  for f in "${D%/*}"/*/.agent; do
    r=${f%/.agent}; r=${r##*/}
    run_live "$r" && continue
    a=; read -r a _ 2>/dev/null <"$f" || continue
    if [ -z "$a" ] || [ "$a" = "$me" ] || [ ! -r "/proc/$a/cmdline" ]; then continue; fi
    case $(tr '\0' ' ' <"/proc/$a/cmdline" 2>/dev/null) in
      *lc_agent*) kill -TERM "-$a" 2>/dev/null ;;
    esac
  done
}
# lc_tidy_runs: removes the run directories earlier labctls left on this host (`clean`, `reset`),
# but for those of runs another labctl took over or this host ended by itself (`.taken`,
# `.ended`): their records, which the note names, stay. Never a run whose agent lives.
lc_tidy_runs() {
  for d in "${P%/procs}"/runs/*; do
    [ -d "$d" ] || continue
    r=${d##*/}
    if [ -f "$d/.taken" ] || [ -f "$d/.ended" ] || run_live "$r"; then continue; fi
    rm -rf -- "$d"
  done
}
# lc_setup NAME...: the run's start on this host, once the bench is held: what killed labctls
# left is stopped (`lc_stop_all`), and the stdin FIFOs of the programs the run starts here are
# made in one `mkfifo` (a process, not one per program)
lc_setup() {
  lc_stop_all
  rc=$?
  for n in "$@"; do
    shift
    [ -e "$D/$n.in" ] || set -- "$@" "$D/$n.in"
  done
  [ $# = 0 ] || mkfifo "$@" 2>/dev/null
  return $rc
}
lc_stop_run() {
  early=
  set --
  for g in $(registered); do getf run "$g"; [ "$v" != "$RUN" ] || set -- "$@" "$g"; done
  stopgroups "$@"
}
# lc_stop NAME...: the named programs of this run
lc_stop() {
  for n in "$@"; do
    g=
    read -r g 2>/dev/null <"$D/$n.pgid"
    shift
    [ -z "$g" ] || set -- "$@" "$g"
  done
  early=1
  stopgroups "$@"
}
# lc_start NAME STEP PROGRAM ARGS...: start in a new session (setsid); prints the group id
lc_start() {
  n=$1 step=$2
  shift 2
  { [ -d "$D" ] && [ -d "$P" ]; } || (umask 077 && mkdir -p "$D" "$P") || return 1
  cd "$D" || return 1
  # An earlier program's files of that name (its FIFO too: no line meant for it reaches this
  # one): one `rm` for all of them, none when there are none.
  o=
  for f in "$n.pgid" "$n.rc"; do [ ! -e "$f" ] || o=1; done
  [ -p "$n.in" ] || [ ! -e "$n.in" ] || o=1
  [ -z "$o" ] || rm -f "$n.in" "$n.pgid" "$n.rc" || return 1
  # Its stdin, a FIFO: made at the run's start (`lc_setup`) unless an earlier program used it.
  { [ -p "$n.in" ] || mkfifo "$n.in"; } && : >"$n.out" && : >"$n.err" || return 1
  # The wrapper prints the group id once registered, then closes its stdout: no sleeping poll.
  # shellcheck disable=SC2154 # lc_wrapper: wrap.sh, set before this file
  # (Without the agent's clock fds: the program would keep the clock's input open.)
  g=$(setsid -f sh -c "$lc_wrapper" labctl-proc "$D" "$n" "$step" "$RUN" "$P" "$K" "$@" </dev/null 2>/dev/null 8>&- 9>&-)
  [ -n "$g" ] || { echo "the program did not start" >&2; return 1; }
  echo "$g"
}
# running NAME: the program has not ended
running() { [ ! -f "$D/$1.rc" ] && read -r g 2>/dev/null <"$D/$1.pgid" && leader "$g"; }
# now: sets t to the host time `<epoch>.<ns>`: from the run's clock (`lc_agent`; a line written
# and one read, builtins) where it has one, else from `date` (a process)
now() { { [ -n "$clk" ] && echo >&8 && read -r t <&9; } 2>/dev/null || t=$(date +%s.%N); }
# lc_send NAME PACE LINE...: each line to the program's stdin, PACE seconds apart; prints the host time of each
# (without a pace, one time for all of them: 20,000 lines are 20,000 builtins, not forks). The time
# is read before the line is written: whatever the line causes is stamped at or after it.
lc_send() {
  n=$1 pace=$2; shift 2
  running "$n" || { echo "not running" >&2; return 3; }
  exec 3<>"$D/$n.in" || return 1
  first=1
  if [ "$pace" = 0 ]; then
    now
    for l in "$@"; do printf '%s\n' "$l" >&3 || return 1; done
    for l in "$@"; do echo "$t"; done
  else
    for l in "$@"; do
      [ $first = 1 ] || sleep "$pace"
      first=0
      now
      printf '%s\n' "$l" >&3 || return 1
      echo "$t"
    done
  fi
  exec 3>&-
}
# lc_run TIMEOUT PROGRAM ARGS...: in the foreground, stdin empty, killed after TIMEOUT s (status 124)
# (`--foreground`: the program stays in the agent's process group, so `lc_interrupt` reaches it)
lc_run() { t=$1; shift; cd "$D" && timeout --foreground -k 1 "$t" "$@" </dev/null 8>&- 9>&-; }
# textof FILE: sets tx to the file's lines, each ending in a newline, tn to their count and tu to
# 1 when the last one had no newline of its own; false past 64 lines. Builtins only: no process.
textof() {
  tx='' tn=0 tu=0 tl=''
  while IFS= read -r tl; do
    tn=$((tn + 1))
    [ "$tn" -le 64 ] || return 1
    tx="$tx$tl
"
  done <"$1"
  [ -z "$tl" ] || { tn=$((tn + 1)) tu=1 tx="$tx$tl
"; }
}
# lc_agent [-s 'CMD...'] HOLD...: the run's command loop on this host, on one long-lived SSH channel.
# A request is `@@req N` (or `@@txt N`) and N lines: a command (the run directory exists first).
# It runs in a subshell with stdin from /dev/null and default signal handling (programs it
# starts must die on SIGINT). Its reply on stdout: `@@reply OUT_BYTES ERR_BYTES STATUS`, then
# the command's stdout and stderr (no process beyond the subshell when both are empty). A
# `@@txt` request's command prints short text (labctl's own `lc_*` functions): its reply is
# `@@lines OUT_LINES OUT_UNENDED ERR_LINES ERR_UNENDED STATUS` and the lines, framed with
# builtins (a reply through `stat` and `cat` costs two processes: milliseconds on a Pi). A
# `@@cat 1` request's line is a file's path, not a command: its reply is `@@reply SIZE 0 0`
# and the file's bytes (or `@@reply 0 N 1` and cat's words).
# On stderr, as they come: the frames of the run's programs (`@@l`/`@@p`/`@@t` output lines,
# `@@x NAME STATUS` exits, `@@e NAME` output ended), relayed from the run's FIFO `.stream`,
# and `@@h` each second no tick was answered in (the heartbeat). Before anything, it takes
# the bench's hold for its life (`lc_hold HOLD...`, hold.sh) and replies as to a request
# (`@@lines`, the hold's words, and with `-s`, the sudo check's);
# a host another labctl holds is left as it was (the agent ends). At end of input — labctl ended the run, or its
# connection dropped because labctl died — it stops this run's groups and ends the hold.
# labctl's input is read by `lc_reader`, apart from the requests' loop, so that a tick
# (`@@tick SEQ`, every second) is answered at once even while a request runs: `@@k SEQ TIME`
# (the host time) on the stream, and the time it came noted (`heard`, see hold.sh).
lc_agent() {
  trap '' HUP INT PIPE
  # `-s 'CMD...'`: whether sudo lets this login run them, asked while the hold is taken (no
  # change, no round trip of its own): `lc_sudo_check`'s lines join the hold's words, each
  # line one write, and labctl tells them apart (`nosudo ...`).
  # A check that passed stands while nothing that decides it changed (`sudo_fresh`).
  # `-p 'tcp:N udp:N...'`: what holds the ports the run's servers bind here that labctl did not
  # start, asked the same way (`lc_port_check`, its lines `port ...`).
  # `-g SECONDS`: how long labctl may go unheard before this host ends the run itself (`lc_watch`).
  sc='' pc='' gr=60
  while :; do
    case $1 in
      -s) sc=$2; shift 2 ;;
      -p) pc=$2; shift 2 ;;
      -g) gr=$2; shift 2 ;;
      *) break ;;
    esac
  done
  [ -z "$sc" ] || ! sudo_fresh "$sc" || sc=
  # The hold first: two labctls may share a run id, never a host. It names where labctl is heard.
  hs=$D/.seen
  # shellcheck disable=SC2086 # the commands: words on purpose
  h=$([ -z "$sc" ] || { lc_sudo_check $sc 2>/dev/null & }; [ -z "$pc" ] || { lc_port_check "$pc" 2>/dev/null & }
    lc_hold "$@" 2>&1; r=$?; wait; exit $r)
  rc=$?
  # Its words as a reply framed by lines, counted with builtins; in the same pass, whether
  # sudo refused anything (a check that passed is kept).
  n=0 x=1
  while IFS= read -r l; do
    n=$((n + 1))
    case $l in "nosudo "*) x= ;; esac
  done <<EOF
$h
EOF
  [ "$rc" != 0 ] || [ -z "$sc" ] || [ -z "$x" ] || sudo_passed "$sc"
  printf '@@lines %s 0 0 0 %s\n%s\n' "$n" "$rc" "$h"
  [ "$rc" = 0 ] || exit "$rc"
  (umask 077 && mkdir -p "$D" "$P") || exit 1
  statf $$ 20
  st=$sv
  sshd_of $$
  # shellcheck disable=SC2154 # sp, sps: set by sshd_of (hold.sh)
  echo "$$ $st $B $sp $sps" >"$D/.agent"
  heard "$hs"
  # The FIFOs, those missing in one `mkfifo`: the programs' frames (`.stream`), the requests
  # (`.req`, from lc_reader), and where `labctl-stamp` is deployed, the clocks' (`.clock-in`,
  # `.clock-out` for the sends, `.tick-in`, `.tick-out` for the ticks).
  set -- "$D/.stream" "$D/.req"
  [ ! -x "$K/labctl-stamp" ] || set -- "$@" "$D/.clock-in" "$D/.clock-out" "$D/.tick-in" "$D/.tick-out"
  for f; do
    shift
    [ -p "$f" ] || set -- "$@" "$f"
  done
  [ $# = 0 ] || mkfifo "$@" 2>/dev/null
  [ -p "$D/.stream" ] && [ -p "$D/.req" ] || exit 1
  # The relay (read-write: never an end-of-file between writers; ignores SIGINT as the agent does).
  cat <>"$D/.stream" >&2 &
  relay=$!
  # The heartbeat and watchdog (`lc_watch`): `@@h` every second no tick's answer went out in,
  # so labctl tells a silent host from a quiet one. Its stderr is not the channel's: a `sleep`
  # still running when the agent ends would hold the channel open for up to a second.
  agent=$$
  lc_watch "$gr" 1<>"$D/.stream" 2>/dev/null &
  beat=$!
  # The clock (`labctl-stamp --clock`): each send's host time through fds 8 and 9 (`now`),
  # not a `date` process per send (a millisecond or more on a Pi). Its answers are read-only
  # here: a clock that ended (a stamper deployed by an older labctl refuses `--clock`) is an
  # end-of-file, and `now` falls back to `date`; its requests read-write, so they never block.
  clk=
  if [ -p "$D/.clock-in" ] && [ -p "$D/.clock-out" ] && [ -x "$K/labctl-stamp" ]; then
    "$K/labctl-stamp" --clock <"$D/.clock-in" >"$D/.clock-out" 2>/dev/null &
    clk=$!
    command exec 8<>"$D/.clock-in" 9<"$D/.clock-out" || { kill "$clk"; clk=; }
  fi
  # labctl's input goes to lc_reader (its own stdin named explicitly: a background job's is
  # /dev/null otherwise); this loop reads the requests it passes on, until it ends.
  exec 4<&0
  { lc_reader; } <&4 8>&- 9>&- &
  rd=$!
  exec 0<"$D/.req" 4<&-
  while IFS= read -r h; do
    case $h in
      "@@req "*) k=${h#@@req } t='' ;;
      "@@txt "*) k=${h#@@txt } t=1 ;;
      "@@cat "*) k=${h#@@cat } t=c ;;
      *) continue ;;
    esac
    c=
    while [ "$k" -gt 0 ] && IFS= read -r l; do
      c="$c$l
"
      k=$((k - 1))
    done
    if [ "$t" = c ]; then
      # A file sent as it lies (a capture's pcap, whole once its tcpdump stopped), framed by its
      # size: not spooled in the run directory first, as a reply is (a capture may be megabytes
      # on the host whose disk it filled); no channel of its own (an sshd session and a login
      # shell each). At most the size said is sent, so the frame holds whatever happens to it.
      f=${c%?}
      if [ -f "$f" ] && [ -r "$f" ] && n=$(stat -c %s -- "$f" 2>/dev/null); then
        printf '@@reply %s 0 0\n' "$n"
        head -c "$n" -- "$f"
      else
        m=$(cat -- "$f" 2>&1 >/dev/null) || :
        [ -n "$m" ] || m="cat: $f: not a readable file"
        printf '@@reply 0 %s 1\n%s' "$(printf %s "$m" | wc -c)" "$m"
      fi
      continue
    fi
    (trap - HUP INT PIPE; eval "$c") >"$D/.out" 2>"$D/.err" </dev/null
    rc=$?
    if [ -s "$D/.out" ] || [ -s "$D/.err" ]; then
      if [ -n "$t" ] && textof "$D/.out" && o=$tx on=$tn ou=$tu && textof "$D/.err"; then
        printf '@@lines %s %s %s %s %s\n%s%s' "$on" "$ou" "$tn" "$tu" "$rc" "$o" "$tx"
      else
        # shellcheck disable=SC2046 # two numbers
        set -- $(stat -c %s "$D/.out" "$D/.err")
        printf '@@reply %s %s %s\n' "$1" "$2" "$rc"
        cat "$D/.out" "$D/.err"
      fi
    elif [ "$rc" != 0 ] && ! { printf x >"$D/.out"; } 2>/dev/null; then
      # The command failed and its words could not be kept: the disk is the reason.
      m=$(df -Pk -- "$D" 2>/dev/null | awk 'NR == 2 { print $4 }')
      if [ "$m" = 0 ]; then m="no space left on device (run directory $D)"; else m="cannot write in the run directory $D"; fi
      printf '@@reply 0 %s %s\n%s' "$(printf %s "$m" | wc -c)" "$rc" "$m"
    else
      printf '@@reply 0 0 %s\n' "$rc"
    fi
  done
  # The watchdog first (it would take the agent's end for a death).
  kill -USR1 "$beat" 2>/dev/null
  lc_stop_run >/dev/null 2>&1
  lc_release
  exec 8>&- 9>&-
  # shellcheck disable=SC2086 # clk: a pid or nothing
  kill "$relay" "$rd" $clk 2>/dev/null
  # labctl fetched everything and said so (`lc_done`): the run's files can go.
  if [ -f "$D/.done" ]; then rm -rf "$D"; fi
}
# lc_watch GRACE: the run's heartbeat and watchdog, in the background beside lc_agent (its stdout
# the run's stream): `@@h` every second in which no tick was answered; when the agent is gone
# without ending the run (killed), or labctl has not been heard for GRACE seconds (its laptop
# asleep or gone, its connection dead without a FIN), it ends the run itself (`lc_orphan`).
# A run another labctl took over (`.taken`) is that labctl's to end. USR1 (the agent's own end)
# ends it, and so does TERM to the agent's group (another labctl ending a dead run's agent,
# `lc_stop_agents`).
lc_watch() {
  trap 'exit 0' USR1
  while sleep 1; do
    [ ! -f "$D/.taken" ] || exit 0
    if ! kill -0 "$agent" 2>/dev/null; then
      lc_orphan "its agent (pid $agent) ended"
      exit 0
    fi
    # No `@@h` when a tick was answered since the last beat (`heard` writes `$hs` after each
    # `@@k`): labctl heard the host then, and in a room of 30 benches a frame a host a second is
    # a thousand wake-ups of labctl a run. `.beat` marks each beat; where it cannot be written
    # (a full disk), the beat goes out.
    # shellcheck disable=SC3013 # -nt: in POSIX.1-2024's test, and in dash's, busybox's and bash's
    { [ "$hs" -nt "$D/.beat" ] && : >"$D/.beat"; } 2>/dev/null || { printf '@@h\n'; : >"$D/.beat"; } 2>/dev/null
    silence "$hs"
    if [ -n "$sl" ] && [ "$sl" -ge "$1" ]; then
      lc_orphan "labctl was not heard for $sl s (orphaned_after: $1 s)"
      exit 0
    fi
  done
}
# lc_orphan WHY: ends this run on the host as labctl would have: notes why and when (`.ended` in
# the run directory, which labctl reads if it comes back, `lc_why`; and `<workdir>/.ended-RUN`, which
# the next command's hold names), ends the agent's other processes (TERM to its group: labctl's
# channel closes), stops the run's programs as `stop` does (a capture's file stays, closed), and
# releases the hold. The run directory is kept.
lc_orphan() {
  n="run=$RUN
at=$(date +%s)
why=$1
dir=$D"
  printf '%s\n' "$n" 2>/dev/null >"$D/.ended"
  printf '%s\n' "$n" 2>/dev/null >"${P%/procs}/.ended-$RUN"
  # The agent's group but this watchdog (TERM ignored only while it is sent).
  trap '' TERM
  kill -TERM -"$agent" 2>/dev/null
  trap - TERM
  lc_stop_run >/dev/null 2>&1
  lc_release
}
# lc_reader: labctl's input, for lc_agent: a tick (`@@tick SEQ`) is answered at once with the
# host time, `@@k SEQ TIME` on the run's stream (its own clock, `labctl-stamp --clock`, where it
# is deployed; else `date`), and noted as labctl heard (`heard`); a request (`@@req N`,
# `@@txt N` or `@@cat 1`, then its lines) is passed whole to the agent's loop through `.req`.
# At end of input it ends, and so does that loop.
lc_reader() {
  exec 6>"$D/.req" || return 1
  clk=
  if [ -p "$D/.tick-in" ] && [ -p "$D/.tick-out" ] && [ -x "$K/labctl-stamp" ]; then
    # (Without `.req`: the agent's loop reads its end-of-file once this reader is gone.)
    "$K/labctl-stamp" --clock <"$D/.tick-in" >"$D/.tick-out" 2>/dev/null 6>&- &
    clk=$!
    command exec 8<>"$D/.tick-in" 9<"$D/.tick-out" || { kill "$clk"; clk=; }
  fi
  while IFS= read -r h; do
    case $h in
      "@@tick "*)
        now
        printf '@@k %s %s\n' "${h#@@tick }" "$t" 2>/dev/null 1<>"$D/.stream"
        heard "$hs"
        ;;
      "@@req "* | "@@txt "* | "@@cat "*)
        k=${h#@@??? } c="$h
"
        while [ "$k" -gt 0 ] && IFS= read -r l; do
          c="$c$l
"
          k=$((k - 1))
        done
        printf '%s' "$c" >&6 || break
        ;;
    esac
  done
  [ -z "$clk" ] || kill "$clk" 2>/dev/null
}
# lc_interrupt (on its own channel): Ctrl-C of labctl ends the agent's current request (a paced
# send, a foreground program) at once; the agent, leader of its process group, ignores SIGINT.
lc_interrupt() { read -r g _ 2>/dev/null <"$D/.agent" && [ -n "$g" ] && kill -INT "-$g" 2>/dev/null; }
# lc_done: the run is over and its files were fetched
lc_done() { : >"$D/.done"; }
