#!/usr/bin/env bash
# What compacting the jobs table costs an application insert. Starts a throwaway PostgreSQL 15
# cluster (defaults, port PORT, socket and data in a temporary folder removed at exit), applies
# crates/haul/migrations to schema "haul", fills haul.jobs with generated rows to ~SIZE_MB of
# heap, deletes all but LIVE % of them, then compacts the table (VACUUM FULL, and pg_repack
# where installed) in one session while another inserts one job per statement in a loop.
# Prints, per live share and method: the compaction's duration and the longest insert during it
# (server side: statement_timestamp() to clock_timestamp() in RETURNING, lock wait included).
# Nothing is written to the repository.
#   nice -n 19 bash bench/compaction-lock.sh
# env: LIVE ("2 50"), SIZE_MB (1024), PORT (54329), PGBIN (/usr/lib/postgresql/15/bin), METHODS
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}; PORT=${PORT:-54329}; SIZE_MB=${SIZE_MB:-1024}
METHODS=${METHODS:-vacuum_full$([ -x "$PGBIN/pg_repack" ] && echo ' pg_repack')}
dir=$(mktemp -d)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
cleanup() { as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-p $PORT -k $dir -c listen_addresses=''" start >/dev/null
q() { PGOPTIONS="-c client_min_messages=warning" "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$PORT" -U postgres -d postgres "$@"; }
now() { date +%s.%N; }
mib() { q -At -c "SELECT round(pg_relation_size('haul.jobs') / 1048576.0) || ' MiB heap + '
  || round(pg_indexes_size('haul.jobs') / 1048576.0) || ' MiB indexes, '
  || (SELECT count(*) FROM haul.jobs) || ' rows'"; }

# A fresh haul schema, filled to SIZE_MB of heap, then thinned to $1 % live rows.
prepare() {
  { echo 'DROP SCHEMA IF EXISTS haul CASCADE; CREATE SCHEMA haul;'
    for f in "$repo"/crates/haul/migrations/*.sql; do sed 's/{schema}/"haul"/g' "$f"; done; } | q
  while [ "$(q -At -c "SELECT pg_relation_size('haul.jobs') < $SIZE_MB * 1048576")" = t ]; do
    q -c "INSERT INTO haul.jobs (kind, queue, args, state, max_attempts, tags)
          SELECT 'send_email', 'mail', jsonb_build_object('to', 'user' || g || '@example.com',
                 'subject', 'Your order ' || g || ' has shipped', 'order', g), 'available', 20, '{bench}'
          FROM generate_series(1, 250000) g"
  done
  q -c "DELETE FROM haul.jobs WHERE id % 100 >= $1" -c 'CHECKPOINT'
}

INS="INSERT INTO haul.jobs (kind, queue, args, state, max_attempts) VALUES ('send_email', 'mail',
  '{\"to\": \"app@example.com\"}', 'available', 20) RETURNING extract(epoch FROM statement_timestamp()),
  extract(epoch FROM clock_timestamp());"

# Runs the compaction $1 while the insert loop runs; prints what the inserts saw.
measure() {
  local out=$dir/inserts stop=$dir/stop t0 t1
  rm -f "$stop"
  ( while [ ! -e "$stop" ]; do echo "$INS"; done | q -At -F ' ' > "$out" ) & local loop=$!
  sleep 3
  t0=$(now)
  case $1 in
    vacuum_full) q -c 'VACUUM FULL haul.jobs' ;;
    pg_repack) "$PGBIN/pg_repack" -h "$dir" -p "$PORT" -U postgres -d postgres -t haul.jobs 2>&1 \
                 | grep -v '^INFO' || true ;;
  esac
  t1=$(now)
  sleep 3; touch "$stop"; wait "$loop"
  awk -v t0="$t0" -v t1="$t1" '
    { d = ($2 - $1) * 1000; if ($2 >= t0 && $1 <= t1) { n++; if (d > m) m = d } else { o++; if (d > mo) mo = d } }
    END { printf "%.0f ms; longest insert during it %.1f ms (%d inserts during it); longest of the %d inserts in the 3 s before and after %.1f ms\n",
          (t1 - t0) * 1000, m, n, o, mo }' "$out"
}

echo "compaction-lock: PostgreSQL $(q -At -c 'SHOW server_version'), $(date -u +%FT%TZ), $(nproc) cores"
for live in ${LIVE:-2 50}; do
  for method in $METHODS; do
    prepare "$live"
    [ "$method" = pg_repack ] && q -c 'CREATE EXTENSION IF NOT EXISTS pg_repack'
    echo "live $live %, $method: before: $(mib)"
    echo "  $method took $(measure "$method")"
    echo "  after: $(mib)"
  done
done
