#!/usr/bin/env bash
# One side-by-side run of issue 4's benchmark: Haul, the peers of ../shared/bench/peers and the
# realistic bare loop of ../shared/bench/limits, one after the other on this machine's PostgreSQL,
# nothing else running. Haul's runs are spread over the run instead of bunched at its start, so
# a drift of the machine's speed over the ~30 minutes does not fall on one side:
#   - W3 alternates with the bare loop (five pairs);
#   - W1, W2 and W4 run once before the peers and once after each peer.
# Then Haul's W5 alone (W5=0 skips it) at RATE jobs/s (default: SHARE % of this run's W3 median),
# and bench/targets.py prints every target's ratio from this run's files.
#   bash bench/side-by-side.sh          (after `peers.sh setup` and `cargo build --release -p haul-bench`)
#   PEERS=gw W5=0 bash bench/side-by-side.sh    (graphile-worker as the only peer, no limits, no W5)
# env: PEERS (gw pgboss procr pgq apalis awa dbos: the peers to run, in order),
#      LIMITS (1 with the default PEERS, else 0: 1 runs peers.sh's `limits` after the peers),
#      W5 (1), SHARE (60), RATE (computed), W5_LOG (RUST_LOG of W5: info, each vacuum at debug),
#      HAUL (${CARGO_TARGET_DIR:-target}/release/haul-bench), HAUL_PEERS_DIR (/tmp/haul-peers)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$repo/../shared/bench" && pwd)
export HAUL_PEERS_DIR=${HAUL_PEERS_DIR:-/tmp/haul-peers}
haul=${HAUL:-${CARGO_TARGET_DIR:-$repo/target}/release/haul-bench}
all_peers="gw pgboss procr pgq apalis awa dbos"
peers=${PEERS:-$all_peers}
if [ "$peers" = "$all_peers" ]; then limits=${LIMITS:-1}; else limits=${LIMITS:-0}; fi
res=$HAUL_PEERS_DIR/results
[ -x "$haul" ] || { echo "build first: cargo build --release -p haul-bench (or set HAUL; looked at $haul)" >&2; exit 2; }
[ -d "$HAUL_PEERS_DIR/_build" ] || { echo "install the peers first: bash $shared/peers/peers.sh setup" >&2; exit 2; }
if [ -d "$res" ]; then mv "$res" "$res.$(date -u +%Y%m%dT%H%M%S)"; fi
mkdir -p "$res"
log() { echo "=== $(date -u +%FT%TZ) $*" | tee -a "$res/timeline.log"; }
vmstat -t 5 > "$res/vmstat.log" & vm=$!
trap 'kill $vm 2>/dev/null || true' EXIT

bare() {
  (cd "$shared/limits" && SCRIPTS=claim_b1000_delete CLIENTS=2 \
    PGOPTIONS="-c plan_cache_mode=force_custom_plan" ./run.sh) | tee -a "$res/bare.jsonl"
}
bench() { "$haul" --runs "$1" --workloads "$2" "${@:3}"; }

log "start $(git -C "$repo" rev-parse --short HEAD) · peers: $peers · limits: $limits"
for i in 1 2 3 4 5; do
  log "bare loop $i"; bare
  log "haul W3 $i"; bench 1 w3
done
log "haul W6"; bench 3 w6 --w6-backlogs 1000,1000000
log "haul W1 W2 W4"; bench 1 w1,w2,w4
for peer in $peers; do
  log "peer $peer"; bash "$shared/peers/peers.sh" run "$peer"
  log "haul W1 W2 W4"; bench 1 w1,w2,w4
done
if [ "$limits" = 1 ]; then
  log "limits"; bash "$shared/peers/peers.sh" run limits
fi
if [ "${W5:-1}" = 1 ]; then
  rate=${RATE:-$(python3 "$repo/bench/targets.py" "$res" --w5-rate "${SHARE:-60}")}
  log "haul W5 at $rate jobs/s"
  # W5 opts in to compaction (the library's default is off), so the table can come back after the hold
  RUST_LOG=${W5_LOG:-haul=info,haul::maintenance::vacuumer=debug} bench 1 w5 --w5-rate "$rate" --w5-minutes 10 --w5-hold-seconds 30 --compaction 2>&1 \
    | tee "$res/w5.log"
fi
log "done"
python3 "$repo/bench/targets.py" "$res" | tee "$res/targets.md"
