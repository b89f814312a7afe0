#!/usr/bin/env bash
# Warm GetSubscriberView against the same server's health check, from outside with h2load, for one or more
# builds in alternating rounds (this VM's throughput moves ±20% between runs, so compare within a round).
#
#   cd /tmp/ab && ./complaint-gateway demo --history-complaints 0   # once, writes demo-data/; stop it
#   sed -i 's/^rate_limit_per_minute = .*/rate_limit_per_minute = 0/' demo-data/gateway.toml
#   benches/outside/rounds.sh /tmp/ab/old /tmp/ab/new               # from the checkout
#
# Each round and build: start the server, 3 s of warm-up views, 8 s of views and 8 s of health checks at
# 512 in flight (8 connections × 64 streams), then stop it. Prints req/s, failures, the server's CPU per
# view (user + system, from /proc) and view ÷ health. ROUNDS (default 3) sets the rounds. Needs h2load
# (Debian: nghttp2-client). Ctrl-C stops it.
set -euo pipefail
ROUNDS=${ROUNDS:-3}
[ $# -ge 1 ] || { echo "usage: $0 BINARY [BINARY ...] (builds to compare, in one folder with demo-data/)" >&2; exit 2; }
BINS=()
for b in "$@"; do BINS+=("$(cd "$(dirname "$b")" && pwd)/$(basename "$b")"); done
cd "$(dirname "${BINS[0]}")"
[ -f demo-data/gateway.toml ] || { echo "no demo-data/ here: run \`complaint-gateway demo\` once" >&2; exit 2; }
python3 -c 'import struct; m=b"15800000002"; pb=b"\x0a"+bytes([len(m)])+m
open("view.bin","wb").write(b"\x00"+struct.pack(">I",len(pb))+pb); open("health.bin","wb").write(b"\x00"*5)'
TOKEN=$("${BINS[0]}" token --config demo-data/gateway.toml --subject m-hz-01 2>/dev/null | tail -1)
PID=
trap '[ -n "$PID" ] && kill -INT $PID 2>/dev/null; exit 130' INT TERM
H=(-c 8 -m 64 -t 1 -H content-type:application/grpc -H te:trailers)
VIEW=("${H[@]}" -H "authorization: Bearer $TOKEN" -d view.bin http://127.0.0.1:50051/complaint.v1.ComplaintDataService/GetSubscriberView)
HEALTH=("${H[@]}" -d health.bin http://127.0.0.1:50051/grpc.health.v1.Health/Check)
for round in $(seq 1 "$ROUNDS"); do
  for bin in "${BINS[@]}"; do
    log=$(mktemp)
    "$bin" serve --config demo-data/gateway.toml >"$log" 2>&1 &
    PID=$!
    for _ in $(seq 1 60); do grep -q "listening on" "$log" && break; sleep 0.5; done
    h2load -D 3 "${VIEW[@]}" >/dev/null
    t0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    v=$(h2load -D 8 "${VIEW[@]}")
    t1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    h=$(h2load -D 8 "${HEALTH[@]}")
    kill -INT $PID; wait $PID || true; PID=; rm -f "$log"
    vr=$(awk '/^finished/{print $4}' <<<"$v"); hr=$(awk '/^finished/{print $4}' <<<"$h")
    n=$(awk '/^requests:/{print $8}' <<<"$v"); vf=$(awk '/^requests:/{print $10}' <<<"$v"); hf=$(awk '/^requests:/{print $10}' <<<"$h")
    tick=$(getconf CLK_TCK)
    echo "round $round $(basename "$bin"): views $vr/s ($vf failed), server CPU $(python3 -c "print(round(($t1-$t0)*1e6/$tick/$n,1))") µs/view; health $hr/s ($hf failed); view ÷ health $(python3 -c "print(round($vr/$hr,3))")"
  done
done
