#!/bin/bash
# Scale run: generate ACCOUNTS/SLOTS, serve it, sync it over loopback, sampling RSS every second.
# Usage: scripts/scale-run.sh ACCOUNTS SLOTS NAME   (build first: cargo build --release -p snap-node)
# Plot: cargo run --release --manifest-path tools/scale-plot/Cargo.toml -- --dir /tmp/scale --name NAME --out docs/scale-NAME.png
set -u
SNAP="$(realpath "${SNAP:-target/release/snap}")"
mkdir -p "${SCALE_DIR:-/tmp/scale}"
cd "${SCALE_DIR:-/tmp/scale}"
A=$1; S=$2; N=$3
rm -rf gen$N sync$N
/usr/bin/time -v $SNAP generate --accounts $A --slots $S --seed 1 --datadir gen$N > gen$N.out 2> gen$N.err
ROOT=$(grep "generated root" gen$N.out | awk '{print $3}')
$SNAP serve --datadir gen$N --listen 127.0.0.1:0 --no-discovery > serve$N.out 2> serve$N.err &
SPID=$!
while ! grep -q enode:// serve$N.out; do sleep 1; done
ENODE=$(grep -m1 enode:// serve$N.out)
$SNAP sync --chain demo --peer "$ENODE" --root $ROOT --datadir sync$N --quiet --no-discovery > sync$N.out 2> sync$N.err &
CPID=$!
echo "t,client_rss_kb,server_rss_kb,client_cpu_s" > rss$N.csv
t=0
while kill -0 $CPID 2>/dev/null; do
  C=$(ps -o rss= -p $CPID | tr -d ' '); SV=$(ps -o rss= -p $SPID | tr -d ' '); CT=$(ps -o cputimes= -p $CPID | tr -d ' ')
  echo "$t,$C,$SV,$CT" >> rss$N.csv; sleep 1; t=$((t+1))
done
kill $SPID
echo done >> rss$N.csv
