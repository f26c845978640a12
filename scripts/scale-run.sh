#!/bin/bash
# Scale run: generate ACCOUNTS/SLOTS, serve it, sync it over loopback (sampling both processes'
# RSS and the client's CPU every second), and record store sizes (`snap sync` verifies the store
# when it is done; its log says how long that took).
# Usage: scripts/scale-run.sh ACCOUNTS SLOTS NAME [extra generate flags, e.g. --largest 10000000]
# Build first: cargo build --release -p snap-node. Outputs land in $SCALE_DIR (default /tmp/scale).
# Pin the client and server to one core each with CLIENT_CPU=0 SERVER_CPU=1.
# Plot: cargo run --release --manifest-path tools/scale-plot/Cargo.toml -- --dir /tmp/scale --name NAME --out docs/scale-NAME.png
set -u
SNAP="$(realpath "${SNAP:-target/release/snap}")"
mkdir -p "${SCALE_DIR:-/tmp/scale}"
cd "${SCALE_DIR:-/tmp/scale}"
A=$1; S=$2; N=$3; shift 3
pin() { if [ -n "${1:-}" ]; then echo "taskset -c $1"; fi; }
# REUSE=1 keeps a store generated before (same NAME) and syncs it again.
rm -rf sync$N
if [ -z "${REUSE:-}" ] || [ ! -d gen$N ]; then
  rm -rf gen$N
  /usr/bin/time -v $SNAP generate --accounts $A --slots $S --seed 1 "$@" --datadir gen$N > gen$N.out 2> gen$N.err
fi
ROOT=$(grep "generated root" gen$N.out | awk '{print $3}')
$(pin "${SERVER_CPU:-}") $SNAP serve --datadir gen$N --listen 127.0.0.1:0 --no-discovery > serve$N.out 2> serve$N.err &
SPID=$!
while ! grep -q enode:// serve$N.out; do sleep 1; done
ENODE=$(grep -m1 enode:// serve$N.out)
START=$(date +%s.%N)
$(pin "${CLIENT_CPU:-}") /usr/bin/time -v $SNAP sync --chain demo --peer "$ENODE" --root $ROOT --datadir sync$N --quiet --no-discovery > sync$N.out 2> sync$N.err &
CPID=$!
echo "t,client_rss_kb,server_rss_kb,client_cpu_s" > rss$N.csv
while kill -0 $CPID 2>/dev/null; do
  # seconds since the sync started, as the clock says (not loop turns)
  t=$(echo "$(date +%s.%N) - $START" | bc | awk '{printf "%.1f", $1}')
  # the sync process is time's child
  K=$(pgrep -P $CPID | head -1); K=${K:-$CPID}
  C=$(ps -o rss= -p $K | tr -d ' '); SV=$(ps -o rss= -p $SPID | tr -d ' '); CT=$(ps -o cputimes= -p $K | tr -d ' ')
  echo "$t,$C,$SV,$CT" >> rss$N.csv; sleep 1
done
END=$(date +%s.%N)
kill $SPID
echo "sync wall seconds: $(echo "$END - $START" | bc)" > summary$N.txt
du -sb gen$N sync$N >> summary$N.txt
grep -h "Maximum resident\|Elapsed\|User time\|System time" gen$N.err sync$N.err >> summary$N.txt
cat summary$N.txt
