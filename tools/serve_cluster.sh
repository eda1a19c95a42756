#!/usr/bin/env bash
# Scale-out check of `yolov7 serve`: N replicas on loopback ports behind nginx (least_conn),
# driven by wrk posting a BCCD photo; prints throughput, latency and the status of every answer,
# then stops everything. Needs the release build (swift build -c release), nginx and wrk.
#
#   tools/serve_cluster.sh [N] [--threads T] [--workers W] [--img 640] [--connections C]
#                          [--duration S] [--queue Q] [--weights PATH] [--image PATH]
#                          [--direct] [--rss] [--port P]
#
#   N              replicas (default 1); each gets --threads kernel threads x --workers
#                  detections at once (defaults 1 x 1: one replica per core)
#   --direct       wrk straight at the one replica, no nginx (N must be 1)
#   --rss          run until the replica has answered 10,000 requests and print its resident
#                  memory after 1,000 and after 10,000 (acceptance: within 10%)
#   --queue Q      the replicas' --queue (with few workers and many connections the excess
#                  gets 503: the script then prints how fast those were answered)
#
# The issue's acceptance runs (issue 18, acceptance 3), on a quiet machine:
#   tools/serve_cluster.sh 1 --direct --threads 1 --workers 2 --connections 4 --duration 60
#       (compare with: .build/release/yolov7 bench --weights weights/yolov7-tiny-bccd.pt --img 640)
#   tools/serve_cluster.sh 1 --direct --workers 1 --queue 8 --connections 64 --duration 30
#   tools/serve_cluster.sh 1 --direct --threads 1 --workers 2 --connections 4 --rss
#   tools/serve_cluster.sh 1 --connections 4 --duration 60  and  tools/serve_cluster.sh 2 --connections 8 --duration 60
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="$root/.build/release/yolov7"
replicas=1 threads=1 workers=1 img=640 connections=4 duration=30 queue=64 direct=0 rss=0 port=18080
weights="$root/weights/yolov7-tiny-bccd.pt"
image="$root/images/BloodImage_00178.jpg"
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then replicas=$1; shift; fi
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --img) img=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --queue) queue=$2; shift 2 ;;
    --weights) weights=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --direct) direct=1; shift ;;
    --rss) rss=1; shift ;;
    *) echo "serve_cluster.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
for tool in wrk "$cli"; do
  command -v "$tool" >/dev/null || { echo "serve_cluster.sh: $tool not found" >&2; exit 2; }
done
if [[ $direct == 0 ]]; then command -v nginx >/dev/null || { echo "serve_cluster.sh: nginx not found" >&2; exit 2; }; fi
if [[ $direct == 1 && $replicas != 1 ]]; then echo "serve_cluster.sh: --direct drives one replica" >&2; exit 2; fi

tmp="$(mktemp -d /tmp/yolov7-cluster.XXXXXX)"
chmod 755 "$tmp"  # nginx's worker runs as another user
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# GET a path from a local port with bash's /dev/tcp (no curl needed); prints the body.
http_get() {
  local reply
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  # Connection: close, said outright: the server keeps an HTTP/1.0 connection open without it
  # (until its idle timeout), and `cat` would wait for that.
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
  reply="$(cat <&3)"
  exec 3<&-
  printf '%s' "${reply#*$'\r\n\r\n'}"
}

# The replicas.
for ((i = 1; i <= replicas; i++)); do
  "$cli" serve --weights "tiny=$weights" --port $((port + i)) --threads "$threads" --workers "$workers" \
    --img "$img" --queue "$queue" >"$tmp/replica$i.out" 2>"$tmp/replica$i.log" &
  pids+=($!)
done
for ((i = 1; i <= replicas; i++)); do
  for _ in $(seq 600); do
    if [[ "$(http_get $((port + i)) /readyz 2>/dev/null)" == *ready* ]]; then continue 2; fi
    sleep 0.1
  done
  echo "serve_cluster.sh: replica $i not ready; its log:" >&2
  cat "$tmp/replica$i.log" >&2
  exit 1
done

# nginx in front, as a child in the foreground (no daemon), configuration in the temp folder.
target=$((port + 1))
if [[ $direct == 0 ]]; then
  target=$port
  {
    echo "worker_processes 1; pid $tmp/nginx.pid; error_log $tmp/nginx-error.log warn; daemon off;"
    [[ $(id -u) == 0 ]] && echo "user root;"
    echo "events { worker_connections 4096; }"
    echo "http {"
    echo "  access_log off; client_max_body_size 20m; client_body_buffer_size 20m;"
    echo "  client_body_temp_path $tmp/body; proxy_temp_path $tmp/proxy; fastcgi_temp_path $tmp/fastcgi;"
    echo "  uwsgi_temp_path $tmp/uwsgi; scgi_temp_path $tmp/scgi;"
    echo "  upstream yolov7 { least_conn; keepalive 64;"
    for ((i = 1; i <= replicas; i++)); do echo "    server 127.0.0.1:$((port + i)) max_fails=0;"; done
    echo "  }"
    echo "  server { listen 127.0.0.1:$port;"
    echo "    location / { proxy_pass http://yolov7; proxy_http_version 1.1; proxy_set_header Connection \"\";"
    echo "                 proxy_read_timeout 120s; } }"
    echo "}"
  } >"$tmp/nginx.conf"
  nginx -p "$tmp" -c "$tmp/nginx.conf" &
  pids+=($!)
  for _ in $(seq 100); do
    if [[ "$(http_get $port /readyz 2>/dev/null)" == *ready* ]]; then break; fi
    sleep 0.1
  done
fi

# wrk: every request posts the photo; statuses counted per thread, summed at the end.
cat >"$tmp/post.lua" <<LUA
local f = assert(io.open("$image", "rb"))
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "image/jpeg"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, n in pairs(s) do counts[code] = (counts[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(counts) do table.insert(parts, code .. ":" .. n) end
  table.sort(parts)
  io.write(string.format("RESULT requests=%d seconds=%.2f rps=%.2f p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f statuses=%s timeouts=%d errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    table.concat(parts, ","), summary.errors.timeout,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

echo "replicas $replicas x (--threads $threads --workers $workers --queue $queue), img $img, $( [[ $direct == 1 ]] && echo direct || echo "behind nginx least_conn"), wrk -c $connections"
# CPU time of each replica (user + system, clock ticks) before the load: with the answers
# counted, the CPU spent per request, which other load on shared cores inflates far less than
# wall time.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
cpu_before=()
for ((i = 0; i < replicas; i++)); do cpu_before+=("$(cpu_ticks "${pids[$i]}")"); done
threads_wrk=$(( connections < 2 ? connections : 2 ))
if [[ $rss == 1 ]]; then
  # Until 10,000 answers: the replica's VmRSS when its request counter passes 1,000 and 10,000.
  wrk -t "$threads_wrk" -c "$connections" -d 3600s --timeout 30s -s "$tmp/post.lua" "http://127.0.0.1:$target/v1/detect" \
    >"$tmp/wrk.out" 2>&1 &
  wrk_pid=$!
  answered() { http_get $((port + 1)) /metrics | awk '/^yolov7_http_requests_total\{route="detect"/ { n += $2 } END { print n + 0 }'; }
  rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/${pids[0]}/status"; }
  at1k="" at10k=""
  while [[ -z $at10k ]]; do
    sleep 1
    n=$(answered)
    if [[ -z $at1k && $n -ge 1000 ]]; then at1k=$(rss_kib); echo "after $n requests: RSS $at1k KiB"; fi
    if [[ $n -ge 10000 ]]; then at10k=$(rss_kib); echo "after $n requests: RSS $at10k KiB"; fi
  done
  kill -INT $wrk_pid; wait $wrk_pid || true
  grep RESULT "$tmp/wrk.out" || cat "$tmp/wrk.out"
  awk -v a="$at1k" -v b="$at10k" 'BEGIN { printf "RSS after 10,000 / after 1,000: %.3f\n", b / a }'
else
  wrk -t "$threads_wrk" -c "$connections" -d "${duration}s" --timeout 30s --latency -s "$tmp/post.lua" \
    "http://127.0.0.1:$target/v1/detect" | tee "$tmp/wrk.out" | grep -E "RESULT|Latency|Requests/sec|Non-2xx|Socket errors" || true
fi

# What the replicas saw: answers by status, and how fast the refusals (503) went.
for ((i = 1; i <= replicas; i++)); do
  cpu=$(( $(cpu_ticks "${pids[$((i - 1))]}") - cpu_before[i - 1] ))
  http_get $((port + i)) /metrics | awk -v r="$i" -v cpu="$cpu" -v hz="$(getconf CLK_TCK)" '
    /^yolov7_http_requests_total\{route="detect"/ { match($0, /status="[0-9]+"/); s = substr($0, RSTART + 8, RLENGTH - 9); by[s] += $2 }
    /^yolov7_detect_duration_seconds_bucket\{.*status="503"/ { match($0, /le="[^"]+"/); le = substr($0, RSTART + 4, RLENGTH - 5); b[le] = $2; order[++k] = le }
    /^yolov7_detect_duration_seconds_count\{.*status="503"/ { c = $2 }
    /^yolov7_detect_duration_seconds_sum\{.*status="503"/ { sum = $2 }
    /^yolov7_detect_timeouts_total/ { t = $2 }
    END {
      line = "replica " r ":"; for (s in by) line = line " " s "x" by[s]; n = 0; for (s in by) n += by[s]
      printf "%s, timeouts %d, CPU %.1f ms per request\n", line, t + 0, (n > 0 ? 1000 * cpu / hz / n : 0)
      if (c > 0) { for (j = 1; j <= k; j++) if (b[order[j]] >= 0.99 * c) { p = order[j]; break }
                   printf "replica %d: 503 answered in %.2f ms mean, 99%% within %s s (server-side)\n", r, 1000 * sum / c, p }
    }'
done
