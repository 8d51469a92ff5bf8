#!/usr/bin/env bash
# W3 through PgBouncer in transaction pooling against W3 straight to PostgreSQL, alternating
# run by run so a drift of the machine's speed falls on every side:
#   direct       the default worker (LISTEN/NOTIFY), straight to the server;
#   direct-poll  the same worker polling only (`--poll-only`), straight to the server;
#   pgbouncer    the polling worker through a PgBouncer started here with docs/deployment.md's
#                settings (pool_mode = transaction, max_prepared_statements, connect_query).
# Prints each run's jobs/s, then the median and range of each side and the ratios of medians.
#   bash bench/pgbouncer.sh     (after `cargo build --release -p haul-bench`)
# env: RUNS (5 per side), PORT (6433), POOL (PgBouncer's default_pool_size: 20),
#      HAUL (${CARGO_TARGET_DIR:-target}/release/haul-bench), PGBOUNCER (from .ci/pgbouncer.sh),
#      DATABASE_URL (postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
haul=${HAUL:-${CARGO_TARGET_DIR:-$repo/target}/release/haul-bench}
[ -x "$haul" ] || { echo "build first: cargo build --release -p haul-bench (or set HAUL)" >&2; exit 2; }
pgbouncer=${PGBOUNCER:-$("$repo/.ci/pgbouncer.sh")}
runs=${RUNS:-5} port=${PORT:-6433} pool=${POOL:-20}
direct=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
host=$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 5432, p.username or "postgres")' "$direct")
read -r pg_host pg_port pg_user <<<"$host"
pooled="postgres://$pg_user@127.0.0.1:$port/postgres"

dir=$(mktemp -d)
export HAUL_PEERS_DIR=$dir/peers
echo "\"$pg_user\" \"\"" >"$dir/users.txt"
cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=$pg_host port=$pg_port connect_query='SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_nestloop = off; SET plan_cache_mode = force_generic_plan; SET statement_timeout = 10000'
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
max_prepared_statements = 200
default_pool_size = $pool
max_client_conn = 500
ignore_startup_parameters = extra_float_digits, options
server_tls_sslmode = disable
EOF
[ "$(id -u)" = 0 ] && echo "user = nobody" >>"$dir/pgbouncer.ini"
"$pgbouncer" "$dir/pgbouncer.ini" 2>"$dir/pgbouncer.log" & bouncer=$!
trap 'kill $bouncer 2>/dev/null || true; wait $bouncer 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
pg_isready -h 127.0.0.1 -p "$port" >/dev/null || { cat "$dir/pgbouncer.log" >&2; exit 1; }
echo "pgbouncer: $("$pgbouncer" --version | head -n1) on port $port, default_pool_size $pool" >&2

w3() { "$haul" --database-url "$1" --runs 1 --workloads w3 --json "${@:2}" | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if r.get("jobs_per_s") is not None: print(round(r["jobs_per_s"]))'; }

: >"$dir/rates"
for i in $(seq 1 "$runs"); do
  for side in direct direct-poll pgbouncer; do
    case $side in
      direct) rate=$(w3 "$direct") ;;
      direct-poll) rate=$(w3 "$direct" --poll-only) ;;
      pgbouncer) rate=$(w3 "$pooled" --poll-only) ;;
    esac
    echo "run $i $side $rate jobs/s"
    echo "$side $rate" >>"$dir/rates"
  done
done
python3 - "$dir/rates" <<'EOF'
import statistics, sys
rates = {}
for line in open(sys.argv[1]):
    side, rate = line.split()
    rates.setdefault(side, []).append(float(rate))
med = {s: statistics.median(r) for s, r in rates.items()}
for s, r in rates.items():
    print(f"{s:12} median {med[s]:,.0f} jobs/s ({min(r):,.0f}-{max(r):,.0f}, n={len(r)})")
print(f"pgbouncer / direct      {med['pgbouncer'] / med['direct']:.3f}")
print(f"pgbouncer / direct-poll {med['pgbouncer'] / med['direct-poll']:.3f}")
EOF
