#!/usr/bin/env bash
# Server-side instructions per call, counted by valgrind (cachegrind, no cache simulation), for an A/B of two
# builds that does not depend on how busy the machine is: wall-clock throughput on a shared 2-core VM moves
# ±20% between identical runs, an instruction count by < 1%. Kernel time (syscalls, TCP) is not counted.
#
#   cargo build --release && cp target/release/complaint-gateway /tmp/ab/new     # and an older build as /tmp/ab/old
#   cd /tmp/ab && ./complaint-gateway demo --history-complaints 0   # once, writes demo-data/; stop it
#   sed -i 's/^rate_limit_per_minute = .*/rate_limit_per_minute = 0/' demo-data/gateway.toml
#   benches/outside/instructions.sh /tmp/ab/old /tmp/ab/new          # from the checkout
#
# For each binary: the server's instructions over start-up and shut-down alone, then with N warm
# GetSubscriberView calls (msisdn 15800000002, token of m-hz-01) and with N health checks; prints
# instructions per call (the difference over N). Needs valgrind and h2load (Debian: valgrind,
# nghttp2-client). Ctrl-C stops it. N defaults to 2000 (about 2 minutes per binary); start-up itself varies by
# ~20M instructions between runs, so with N much below 2000 the per-call figures are noise.
set -euo pipefail
N=${N:-2000}
[ $# -ge 1 ] || { echo "usage: $0 BINARY [BINARY ...] (builds to compare, in one folder with demo-data/)" >&2; exit 2; }
# Absolute paths first: the binaries may be given relative to where this is run from.
BINS=()
for b in "$@"; do BINS+=("$(cd "$(dirname "$b")" && pwd)/$(basename "$b")"); done
DIR=$(dirname "${BINS[0]}")
cd "$DIR"
[ -f demo-data/gateway.toml ] || { echo "no demo-data/ in $DIR: run \`complaint-gateway demo\` there once" >&2; exit 2; }
python3 -c 'import struct; m=b"15800000002"; pb=b"\x0a"+bytes([len(m)])+m
open("view.bin","wb").write(b"\x00"+struct.pack(">I",len(pb))+pb); open("health.bin","wb").write(b"\x00"*5)'
trap 'pkill -f "cachegrind-out-file=cg.out.ab" || true; exit 130' INT TERM

# run BIN VIEWS HEALTHS -> total instructions of the server process
run() {
  local bin=$1 nv=$2 nh=$3 log
  log=$(mktemp)
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=cg.out.ab "$bin" serve --config demo-data/gateway.toml >"$log" 2>&1 &
  local vp=$!
  for _ in $(seq 1 300); do grep -q "listening on" "$log" && break; sleep 1; done
  sleep 2
  local token
  token=$("$bin" token --config demo-data/gateway.toml --subject m-hz-01 2>/dev/null | tail -1)
  local common=(-c 4 -m 16 -t 1 -H content-type:application/grpc -H te:trailers)
  if [ "$nv" -gt 0 ]; then
    h2load -n "$nv" "${common[@]}" -H "authorization: Bearer $token" -d view.bin \
      http://127.0.0.1:50051/complaint.v1.ComplaintDataService/GetSubscriberView | grep -q " $nv succeeded" \
      || echo "warning: not every view call succeeded" >&2
  fi
  if [ "$nh" -gt 0 ]; then
    h2load -n "$nh" "${common[@]}" -d health.bin http://127.0.0.1:50051/grpc.health.v1.Health/Check \
      | grep -q " $nh succeeded" || echo "warning: not every health check succeeded" >&2
  fi
  sleep 2
  kill -INT $vp
  wait $vp || true
  grep -E "I *refs:" "$log" | tail -1 | awk '{gsub(",","",$NF); print $NF}'
  rm -f "$log" cg.out.ab
}

for bin in "${BINS[@]}"; do
  idle=$(run "$bin" 0 0); echo "$(basename "$bin"): start-up and shut-down $idle instructions" >&2
  views=$(run "$bin" "$N" 0)
  health=$(run "$bin" 0 "$N")
  echo "$(basename "$bin"): warm view $(( (views - idle) / N )) instructions/call, health check $(( (health - idle) / N )) instructions/call, ratio $(python3 -c "print(round(($health-$idle)/($views-$idle),3))")"
done
