#!/usr/bin/env bash
# C++ lookup benchmark: ukv::SwissTable (native/table.cc) vs absl::flat_hash_map<std::string,
# std::string>, at 1M and 10M entries (16-byte keys, 100-byte values). Builds native/table_bench.cc
# twice: with SSE2 groups (the shipped build) and with the portable SWAR groups (-U__SSE2__), and
# runs the SWAR build's correctness check too. Needs libabsl-dev (installed here via apt if missing;
# bench only, the addon never links abseil). Results go in docs/benchmarks/table.md by hand.
#
#   bash scripts/bench/table-cpp.sh [entryCount...]     (default: 1000000 10000000)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$(mktemp -d /tmp/ukv-table-bench.XXXXXX)"
trap 'rm -rf "$out"' EXIT

if [ ! -f /usr/include/absl/container/flat_hash_map.h ]; then
  echo "libabsl-dev missing: installing it with apt (needs root)"
  if ! { apt-get update -qq && apt-get install -y -qq libabsl-dev; } >"$out/apt.log" 2>&1; then
    echo "Cannot install libabsl-dev (see apt output below); the absl comparison cannot run here." >&2
    cat "$out/apt.log" >&2
    exit 2
  fi
fi

absl_libs="$(pkg-config --libs absl_flat_hash_map absl_hash 2>/dev/null || echo "-labsl_hash -labsl_city -labsl_low_level_hash -labsl_raw_hash_set")"
flags=(-std=c++17 -O2 -DNDEBUG -I"$root/native")
g++ "${flags[@]}" -o "$out/table_bench" "$root/native/table_bench.cc" "$root/native/table.cc" $absl_libs
g++ "${flags[@]}" -U__SSE2__ -o "$out/table_bench_swar" "$root/native/table_bench.cc" "$root/native/table.cc" $absl_libs

echo "machine: $(nproc) cores, $(uname -m), g++ $(g++ -dumpversion), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== SWAR build: correctness check and 1M lookups =="
"$out/table_bench_swar" 1000000
echo "== SSE2 build =="
"$out/table_bench" "$@"
