# Shared by the bench scripts: a private PostgreSQL with two databases (one for
# tallyd, one for pgbench), a tally-broker and tallyd; cleanup on exit. Source it.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$TALLY_ROOT"
tally_install_deps
build="${TALLY_BUILD_DIR:-build}"
tally_build "$build" Release >/dev/null

N="${N:-50000}"; C="${C:-64}"
dir="$(mktemp -d /tmp/tally-bench.XXXXXX)"; pg_port="$(tally_free_port)"; http_port="$(tally_free_port)"
keys="bench:0123456789abcdef0123456789abcdef"
pids=()
# Stop in reverse start order: tallyd before the broker it talks to.
bench_cleanup() {
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; wait "${pids[$i]}" 2>/dev/null || true; done
  [ -n "${KEEP_PG_LOG:-}" ] && cp "$dir/pg/postgres.log" "$KEEP_PG_LOG"; tally_pg_stop "$dir/pg"; rm -rf "$dir"
}
trap bench_cleanup EXIT

psql() { "$TALLY_PG_BIN/psql" -q -h 127.0.0.1 -p "$pg_port" -U tally "$@"; }
token() { TALLY_PG_URL="$1" TALLY_JWT_KEYS="$keys" "$build/tools/tally-token" mint --sub "$2" --role "$3" --ttl 86400; }

# The private PostgreSQL, with the databases bench_tally (tallyd's) and bench_pgbench.
bench_pg_start() {
  tally_pg_start "$dir/pg" "$pg_port"
  base="postgresql://tally@127.0.0.1:$pg_port"
  psql -d postgres -c "CREATE DATABASE bench_tally" -c "CREATE DATABASE bench_pgbench"
}

# The benchmarks drive tallyd from one principal on one address, far faster than the
# default budgets allow: the limiter runs with limits no run reaches (TALLY_RATE_LIMIT=off
# takes it out; tools/bench/rate-limit compares the two).
bench_high_limits="read=1000000/1000000,write=1000000/1000000"

# tallyd on database $1 (bench_tally), with a tally-broker of its own (a topic holds one
# journal), or with BENCH_EMBEDDED_BROKER=1 its own mock cluster in process, as on the
# embedded default. Sets db, tallyd, broker and admin (a token).
bench_tallyd_start() {
  db="${1:-bench_tally}"; brokers=""; broker=""
  if [ -z "${BENCH_EMBEDDED_BROKER:-}" ]; then
    "$build/tools/tally-broker" --partitions "${TALLY_KAFKA_PARTITIONS:-3}" >"$dir/broker.out" 2>&1 & broker=$!; pids+=($broker)
    for _ in $(seq 1 50); do grep -q '^127.0.0.1:' "$dir/broker.out" && break; sleep 0.1; done
    brokers="$(grep '^127.0.0.1:' "$dir/broker.out" | head -1)"
  fi
  TALLY_PG_URL="$base/$db" TALLY_KAFKA_BROKERS="$brokers" TALLY_HTTP_PORT="$http_port" \
  TALLY_DATA_DIR="$dir" TALLY_JWT_KEYS="$keys" TALLY_LOG_LEVEL=warn \
  TALLY_RATE_LIMITS="${TALLY_RATE_LIMITS:-$bench_high_limits}" \
  TALLY_RATE_LIMITS_ADDRESS="${TALLY_RATE_LIMITS_ADDRESS:-$bench_high_limits,webhook=1000000/1000000}" \
    "$build/tools/tallyd" >"$dir/tallyd.log" 2>&1 & tallyd=$!; pids+=($tallyd)
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  admin="$(token "$base/$db" admin-1 admin)"
}

# Stops tallyd, then its broker.
bench_tallyd_stop() {
  kill "$tallyd" 2>/dev/null || true; wait "$tallyd" 2>/dev/null || true
  if [ -n "$broker" ]; then kill "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true; fi
}

# Waits until the relay has published the whole journal and every projector has applied
# it (after a preload, or any outage); prints how long that took and the peak RSS so far.
bench_wait_caught_up() {
  local t0=$SECONDS head
  head="$(psql -d "$db" -tAc "SELECT position FROM journal_head")"
  while :; do
    if curl -fsS "http://127.0.0.1:$http_port/metrics" | awk -v head="$head" '
        /^tally_relay_watermark_position /{mark=$2}
        /^tally_projector_lag_events\{/{lag+=$2}
        /^tally_projector_position\{/{n++; if (min == "" || $2 < min) min=$2}
        END{exit !(mark >= head && n > 0 && min >= head && lag == 0)}'; then break; fi
    if (( SECONDS - t0 > ${CATCH_UP_MAX_S:-3600} )); then echo "not caught up after $((SECONDS - t0)) s" >&2; return 1; fi
    sleep 1
  done
  echo "  relay and projectors caught up with the journal ($head events) in $((SECONDS - t0)) s;" \
       "tallyd peak RSS so far $(bench_peak_rss)"
}

bench_start() {
  bench_pg_start
  bench_tallyd_start bench_tally
  echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; N=$N C=$C"
}

# One keyed setup call.  bench_api PORT TOKEN METHOD PATH BODY
bench_api() {
  curl -fsS -X "$3" "http://127.0.0.1:$1$4" -H "Authorization: Bearer $2" -H "Content-Type: application/json" \
    -H "Idempotency-Key: setup-$RANDOM$RANDOM" -d "$5" >/dev/null
}

# The catalog the carts buy from, through the API: vendors v0..v2 (5.00 flat shipping),
# products v{v}-p{0..9} at 10.00 with stock that does not run out.  bench_catalog PORT TOKEN
bench_catalog() {
  local api=(bench_api "$1" "$2")
  for v in 0 1 2; do
    "${api[@]}" PUT "/v1/vendors/v$v" '{"currency":"USD","shipping":{"flat_minor":500}}'
    for p in $(seq 0 9); do
      "${api[@]}" PUT "/v1/products/v$v-p$p" "{\"vendor_id\":\"v$v\",\"country_of_origin\":\"DE\",\"base_minor\":1000}"
      "${api[@]}" POST "/v1/products/v$v-p$p/stock-adjustments" '{"delta":100000000,"reason":"bench"}'
    done
  done
}

# Sequential scans of the write path's tables (pg_stat_user_tables): `bench_seqscans_mark`
# before the measured run, `bench_seqscans_report` after prints what the run added.
bench_seqscans() {
  psql -d "$db" -tAc "SELECT relname, seq_scan, seq_tup_read FROM pg_stat_user_tables
    WHERE relname IN ('snapshots', 'idempotency', 'journal') ORDER BY relname"
}
bench_seqscans_mark() { sleep 0.6; bench_seqscans > "$dir/seqscans.before"; }
bench_seqscans_report() {
  sleep 0.6  # the statistics collector's flush
  bench_seqscans > "$dir/seqscans.after"
  join -t'|' "$dir/seqscans.before" "$dir/seqscans.after" | awk -F'|' \
    '{printf "  sequential scans during the run: %-11s %6d scans, %10d rows read\n", $1, $4-$2, $5-$3}'
}

# tallyd's peak RSS so far.
bench_peak_rss() { awk '/VmHWM/{printf "%.1f MB", $2/1024}' "/proc/$tallyd/status"; }

# Peak RSS and the group-commit figures of the tallyd run.
bench_report_tallyd() {
  echo "  tallyd peak RSS: $(bench_peak_rss)"
  sleep 2
  curl -fsS "http://127.0.0.1:$http_port/metrics" | awk '/^tally_batch_(commands|commit_seconds)_(sum|count)/{v[$1]=$2}
    END{if (v["tally_batch_commands_count"]>0) printf "  batches: %d, mean %.1f commands, mean commit %.1f ms\n", v["tally_batch_commands_count"],
        v["tally_batch_commands_sum"]/v["tally_batch_commands_count"], 1000*v["tally_batch_commit_seconds_sum"]/v["tally_batch_commit_seconds_count"]}'
}

# pgbench with a script, one transaction per command.
bench_pgbench() {
  "$TALLY_PG_BIN/pgbench" -n -h 127.0.0.1 -p "$pg_port" -U tally -c "$C" -j 2 -t $((N / C)) \
    -f "$1" bench_pgbench 2>&1 | grep -E "^(tps|latency average|number of failed|number of transactions actually)"
}
