# `date` on a host of the virtual bench, bound over the host's own (testbed/clock.rs): the
# namespaces share this machine's kernel clock, so setting the clock (`date -s TIME`, as
# `labctl check --fix` does) must never reach it. On a host with its own clock (`testbed up
# --clock`) it moves that clock instead: its offset file, which libfaketime reads for every
# process of the host, and the host's capture times follow. On the others it is refused, as a
# clock this login may not set. Anything else is the real `date`.
# Template rendered by testbed/clock.rs `date_wrapper`.
# Placeholders: @DIR@ the host's clock directory as the host sees it, @OWN@ `1` when the host
# has its own clock, else empty (raw).
# shellcheck shell=sh
d=@DIR@
own=@OWN@
v='' n='' s=''
for a; do
  if [ -n "$n" ]; then v=$a n='' s=1; continue; fi
  case $a in
    -s | --set) n=1 ;;
    --set=*) v=${a#--set=} s=1 ;;
    -s?*) v=${a#-s} s=1 ;;
  esac
done
[ -n "$s" ] || exec "$d/date.real" "$@"
if [ -z "$own" ] || [ "$(id -u)" != 0 ]; then
  echo "date: cannot set date: Operation not permitted" >&2
  exit 1
fi
# The time asked for, and this machine's (both read without libfaketime): their difference is
# the host's new offset, written whole (a rename) so no process reads half of it.
t=$(LD_PRELOAD='' "$d/date.real" -d "$v" +%s.%N) || exit 1
r=$(LD_PRELOAD='' "$d/date.real" +%s.%N) || exit 1
awk -v t="$t" -v r="$r" 'BEGIN { printf "%+.9f\n", t - r }' >"$d/offset.new" &&
  mv -f "$d/offset.new" "$d/offset" || exit 1
exec "$d/date.real" -d "@$t"
