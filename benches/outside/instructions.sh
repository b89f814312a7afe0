#!/usr/bin/env bash
# Server-side instructions per call, counted by valgrind (callgrind, counting only over the measured calls), for
# an A/B of two builds that does not depend on how busy the machine is: wall-clock throughput on a shared 2-core
# VM moves ±20% between identical runs, an instruction count by a few percent (what still moves is how many
# audit events share a transaction, which depends on timing). Kernel time (syscalls, TCP) is not counted.
#
#   cargo build --release && cp target/release/complaint-gateway /tmp/ab/new     # and an older build as /tmp/ab/old
#   cd /tmp/ab && ./complaint-gateway demo --history-complaints 0   # once, writes demo-data/; stop it
#   sed -i 's/^rate_limit_per_minute = .*/rate_limit_per_minute = 0/' demo-data/gateway.toml
#   benches/outside/instructions.sh /tmp/ab/old /tmp/ab/new          # from the checkout
#
# For each binary, two server runs under callgrind with counting off until the server listens: one with N warm
# GetSubscriberView calls (msisdn 15800000002, token of m-hz-01), one with N health checks, each after 200
# calls of warm-up (the views' answers cached, the statements prepared); prints the instructions counted over
# the N calls divided by N. Start-up is not counted, so N=2000 is enough (about 2 minutes per binary). Needs
# valgrind and h2load (Debian: valgrind, nghttp2-client). Ctrl-C stops it.
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
trap 'pkill -f "callgrind-out-file=cg.out.ab" || true; exit 130' INT TERM

# run BIN KIND -> instructions of the server process over N calls of KIND (view or health)
run() {
  local bin=$1 kind=$2 log
  log=$(mktemp)
  rm -f cg.out.ab*
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=cg.out.ab "$bin" serve --config demo-data/gateway.toml >"$log" 2>&1 &
  local vp=$!
  for _ in $(seq 1 300); do grep -q "listening on" "$log" && break; sleep 1; done
  sleep 2
  local token
  token=$("$bin" token --config demo-data/gateway.toml --subject m-hz-01 2>/dev/null | tail -1)
  local call=(-c 4 -m 16 -t 1 -H content-type:application/grpc -H te:trailers)
  if [ "$kind" = view ]; then
    call+=(-H "authorization: Bearer $token" -d view.bin http://127.0.0.1:50051/complaint.v1.ComplaintDataService/GetSubscriberView)
  else
    call+=(-d health.bin http://127.0.0.1:50051/grpc.health.v1.Health/Check)
  fi
  callgrind_control -i on "$vp" >/dev/null 2>&1
  h2load -n 200 "${call[@]}" | grep -q " 200 succeeded" || echo "warning: not every warm-up call succeeded" >&2
  callgrind_control -z "$vp" >/dev/null 2>&1
  h2load -n "$N" "${call[@]}" | grep -q " $N succeeded" || echo "warning: not every $kind call succeeded" >&2
  callgrind_control -d "$vp" >/dev/null 2>&1
  kill -INT $vp
  wait $vp || true
  # The dump taken right after the N calls (the first numbered one).
  grep -h "^summary:" cg.out.ab.1 | awk '{print $2}'
  rm -f "$log" cg.out.ab*
}

for bin in "${BINS[@]}"; do
  views=$(run "$bin" view)
  health=$(run "$bin" health)
  echo "$(basename "$bin"): warm view $(( views / N )) instructions/call, health check $(( health / N )) instructions/call, ratio $(python3 -c "print(round($health/$views,3))")"
done
