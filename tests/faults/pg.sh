#!/bin/bash
# The PostgreSQL fault tests' own cluster, so stopping it hurts no other test:
#   pg.sh start DIR PORT   initdb once, then start on 127.0.0.1:PORT
#   pg.sh stop DIR         fast shutdown (clients' sessions end, open transactions roll back)
#   pg.sh remove DIR       stop and delete
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/lib.sh"
case "$1" in
  start) tally_pg_start "$2" "$3" ;;
  stop) tally_as_pg "$TALLY_PG_BIN/pg_ctl" -D "$2/data" -m fast -w stop >/dev/null ;;
  remove) tally_pg_stop "$2"; rm -rf "$2" ;;
  *) echo "usage: pg.sh start DIR PORT | stop DIR | remove DIR" >&2; exit 2 ;;
esac
