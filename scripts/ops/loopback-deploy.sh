#!/usr/bin/env bash
# The deployment guide of docs/operations.md, run for real on one machine: the loopback addresses
# 127.0.0.2, 127.0.0.3 and 127.0.0.4 stand in for three servers, each with its own root
# ($WORK/server-N: usr/local/bin, etc/ukv, var/lib/ukv). Every command the guide shows is run
# here, in the guide's order: install, config (bind vs advertise), the systemd unit's command,
# status, reads and writes, metrics, Prometheus config, data dir layout and disk use, backup and
# restore of a shard from its snapshot, a rolling upgrade under writes, and a shard losing its
# quorum and getting it back. Exits 0 and prints "deployment trial passed" when every check held.
#
# Usage: scripts/ops/loopback-deploy.sh [UKV_BIN=dist/ukv] [PORT=7100] [WORK=$(mktemp -d)]
#   (environment variables). Ports PORT..PORT+3 on each address, PORT+10..PORT+13 on 0.0.0.0.
set -euo pipefail
cd "$(dirname "$0")/../.."
UKV_BIN="$(realpath "${UKV_BIN:-dist/ukv}")"
PORT="${PORT:-7100}"
WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/ukv-deploy-XXXXXX")}"
UNIT=configs/systemd/ukv.service
declare -A PIDS=()

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
cleanup() {
  for id in "${!PIDS[@]}"; do kill -KILL "${PIDS[$id]}" 2>/dev/null || true; done
  [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

# Store N (1..3) runs on "server" 127.0.0.(N+1).
ip_of() { echo "127.0.0.$(($1 + 1))"; }
root_of() { echo "$WORK/server-$1"; }
config_of() { echo "$(root_of "$1")/etc/ukv/cluster.yaml"; }
CONFIG="$(config_of 1)"

step "1. one binary per server"
for id in 1 2 3; do
  root="$(root_of "$id")"
  mkdir -p "$root/usr/local/bin" "$root/etc/ukv" "$root/var/lib/ukv"
  install -m 0755 "$UKV_BIN" "$root/usr/local/bin/ukv"
done
"$(root_of 1)/usr/local/bin/ukv" version

step "2. the cluster config (the same file on every server; only dataDir differs in this trial)"
# Stores 1 and 2 bind their server's address. Store 3 binds every interface (0.0.0.0), which no
# one can dial, so it advertises the address its peers and clients use: 127.0.0.4.
for id in 1 2 3; do
  cat > "$(config_of "$id")" <<EOF
clusterName: trial
dataDir: $(root_of "$id")/var/lib/ukv
stores:
  - id: 1
    raftAddress: 127.0.0.2:$PORT
    clientAddress: 127.0.0.2:$((PORT + 1))
    respAddress: 127.0.0.2:$((PORT + 2))
    httpAddress: 127.0.0.2:$((PORT + 3))
  - id: 2
    raftAddress: 127.0.0.3:$PORT
    clientAddress: 127.0.0.3:$((PORT + 1))
    respAddress: 127.0.0.3:$((PORT + 2))
    httpAddress: 127.0.0.3:$((PORT + 3))
  - id: 3
    raftAddress: 0.0.0.0:$((PORT + 10))
    clientAddress: 0.0.0.0:$((PORT + 11))
    respAddress: 0.0.0.0:$((PORT + 12))
    httpAddress: 0.0.0.0:$((PORT + 13))
    advertise:
      raftAddress: 127.0.0.4:$((PORT + 10))
      clientAddress: 127.0.0.4:$((PORT + 11))
      respAddress: 127.0.0.4:$((PORT + 12))
      httpAddress: 127.0.0.4:$((PORT + 13))
metaStores: [1, 2, 3]
initialShards: 4
replication: 3
EOF
  echo "UKV_STORE_ID=$id" > "$(root_of "$id")/etc/ukv/store.env"
done
cat "$CONFIG"

# The unit file with /usr/local/bin, /etc/ukv and /var/lib/ukv moved under the server's root.
unit_of() {
  local root
  root="$(root_of "$1")"
  sed -e "s#/usr/local/bin/ukv#$root/usr/local/bin/ukv#g" -e "s#/etc/ukv#$root/etc/ukv#g" -e "s#/var/lib/ukv#$root/var/lib/ukv#g" "$UNIT"
}

step "3. the systemd unit"
mkdir -p "$WORK/units"
unit_of 1 > "$WORK/units/ukv.service"
if command -v systemd-analyze >/dev/null 2>&1; then
  # User=ukv may not exist on this machine: that remark is not about the unit's syntax.
  verify_output="$(systemd-analyze verify "$WORK/units/ukv.service" 2>&1 || true)"
  echo "${verify_output:-systemd-analyze verify: no remarks}"
  if echo "$verify_output" | grep -v -i -e "user" -e "group" -e "Failed to" | grep -q -i -e "unknown" -e "invalid" -e "not executable"; then
    fail "systemd-analyze verify found a problem in $UNIT"
  fi
else
  echo "SKIP: systemd-analyze not installed: the unit's syntax is not verified"
fi

# What systemd does for `systemctl start ukv`: the unit's environment, ExecStartPre, ExecStart.
start_store() {
  local id="$1" root exec_start tmp
  root="$(root_of "$id")"
  # shellcheck disable=SC1090
  source "$root/etc/ukv/store.env"
  tmp="$(unit_of "$id" | sed -n 's/^Environment=TMPDIR=//p')"
  mkdir -p "$tmp"
  exec_start="$(unit_of "$id" | sed -n 's/^ExecStart=//p' | sed "s/\${UKV_STORE_ID}/$UKV_STORE_ID/")"
  TMPDIR="$tmp" $exec_start 2>> "$root/var/lib/ukv/store.log" &
  PIDS[$id]=$!
  echo "store $id started (pid ${PIDS[$id]}): $exec_start"
}

# `systemctl stop ukv`: SIGTERM, then wait (TimeoutStopSec).
stop_store() {
  local id="$1" status=0
  kill -TERM "${PIDS[$id]}"
  wait "${PIDS[$id]}" || status=$?
  unset "PIDS[$id]"
  [ "$status" -eq 0 ] || fail "store $id exited with status $status on SIGTERM"
  echo "store $id stopped cleanly"
}

UKV="$(root_of 1)/usr/local/bin/ukv"
wait_status_ok() {
  for _ in $(seq 1 300); do
    if "$UKV" status --config "$CONFIG" > "$WORK/status.txt" 2>&1; then return 0; fi
    sleep 0.2
  done
  cat "$WORK/status.txt"
  fail "ukv status did not report a leader for every shard within 60 s"
}

step "4. start the stores, wait for every shard's leader"
for id in 1 2 3; do start_store "$id"; done
wait_status_ok
# A store opens its HTTP listener last: wait for the three.
for address in "127.0.0.2:$((PORT + 3))" "127.0.0.3:$((PORT + 3))" "127.0.0.4:$((PORT + 13))"; do
  for _ in $(seq 1 100); do curl -sf "http://$address/api/store" > /dev/null && break; sleep 0.1; done
done
"$UKV" status --config "$CONFIG"

step "5. reads and writes through any server"
"$UKV" kv set greeting hello --node "127.0.0.2:$((PORT + 1))"
[ "$("$UKV" kv get greeting --node "127.0.0.4:$((PORT + 11))")" = hello ] || fail "store 3 (advertised 127.0.0.4) did not read the value"
redis-cli -h 127.0.0.3 -p $((PORT + 2)) set colour blue
[ "$(redis-cli -h 127.0.0.4 -p $((PORT + 12)) get colour)" = blue ] || fail "RESP read through store 3 failed"

step "6. metrics, the dashboard's JSON and ukv top"
# (Saved to files, then searched: with pipefail, a grep that stops reading early fails curl.)
curl -sf "http://127.0.0.2:$((PORT + 3))/metrics" > "$WORK/metrics-1.txt"
grep -E '^ukv_replica_has_leader' "$WORK/metrics-1.txt"
curl -sf "http://127.0.0.4:$((PORT + 13))/metrics" > "$WORK/metrics-3.txt"
grep -q '^ukv_store_info{store="3"' "$WORK/metrics-3.txt" || fail "store 3's /metrics is not served at its advertised address"
curl -sf "http://127.0.0.3:$((PORT + 3))/api/cluster" > "$WORK/cluster.json"
grep -q '"quorum":false' "$WORK/cluster.json" && fail "a shard without quorum in /api/cluster"
"$UKV" top --config "$CONFIG" --count 1

step "7. Prometheus: scrape config and alert rules"
mkdir -p "$WORK/prometheus"
cp configs/prometheus/ukv-alerts.yaml "$WORK/prometheus/"
sed -e "s/127.0.0.2:7103/127.0.0.2:$((PORT + 3))/" -e "s/127.0.0.3:7103/127.0.0.3:$((PORT + 3))/" -e "s/127.0.0.4:7103/127.0.0.4:$((PORT + 13))/" configs/prometheus/prometheus.yml > "$WORK/prometheus/prometheus.yml"
if command -v promtool >/dev/null 2>&1; then
  promtool check config "$WORK/prometheus/prometheus.yml"
else
  echo "SKIP: promtool not installed (Debian package prometheus): the Prometheus config is not checked"
fi

step "8. data dir layout and disk use"
DATA1="$(root_of 1)/var/lib/ukv"
find "$DATA1/store-1" -maxdepth 3 | sed "s#$DATA1#/var/lib/ukv#" | sort
du -sh "$DATA1/store-1/log" "$DATA1/store-1/groups"
ls -l "$DATA1/store-1/log"

step "9. backup of a shard from its snapshot, and restore"
for i in $(seq 1 40); do "$UKV" kv set "backup-$i" "value-$i" --config "$CONFIG" > /dev/null; done
"$UKV" admin snapshot --config "$CONFIG" --shard 1 | tee "$WORK/snapshot.txt"
snapshot_path="$(sed -n 's/.*: \(\/.*\.snap\)$/\1/p' "$WORK/snapshot.txt")"
[ -f "$snapshot_path" ] || fail "ukv admin snapshot named no file: $(cat "$WORK/snapshot.txt")"
mkdir -p "$WORK/backup"
cp "$snapshot_path" "$WORK/backup/"
backup_file="$WORK/backup/$(basename "$snapshot_path")"
# The loss to recover from: every key is deleted.
for i in $(seq 1 40); do "$UKV" kv del "backup-$i" --config "$CONFIG" > /dev/null; done
"$UKV" admin restore --config "$CONFIG" --snapshot "$backup_file"
restored=0
for i in $(seq 1 40); do
  if value="$("$UKV" kv get "backup-$i" --config "$CONFIG" --linearizable 2>/dev/null)"; then
    [ "$value" = "value-$i" ] || fail "backup-$i restored as $value"
    restored=$((restored + 1))
  fi
done
echo "$restored of 40 keys are back (the keys of shard 1)"
[ "$restored" -gt 0 ] || fail "no key of shard 1 came back from its snapshot"

step "10. rolling upgrade, one store at a time, under writes"
upgrade_writer() {
  local i=0
  while [ ! -f "$WORK/stop-writer" ]; do
    i=$((i + 1))
    if "$UKV" kv set "upgrade-$i" "v$i" --config "$CONFIG" > /dev/null 2>&1; then echo "$i" >> "$WORK/acknowledged"; fi
  done
}
rm -f "$WORK/stop-writer" "$WORK/acknowledged"
upgrade_writer &
writer_pid=$!
for id in 1 2 3; do
  stop_store "$id"
  # The new version goes in while the store is down (here the same binary stands for it).
  install -m 0755 "$UKV_BIN" "$(root_of "$id")/usr/local/bin/ukv"
  start_store "$id"
  wait_status_ok
  echo "store $id upgraded: every shard has a leader again"
done
touch "$WORK/stop-writer"
wait "$writer_pid"
acknowledged="$(wc -l < "$WORK/acknowledged")"
[ "$acknowledged" -gt 0 ] || fail "no write was acknowledged during the upgrade"
while read -r i; do
  [ "$("$UKV" kv get "upgrade-$i" --config "$CONFIG" --linearizable)" = "v$i" ] || fail "acknowledged write upgrade-$i lost"
done < "$WORK/acknowledged"
echo "all $acknowledged writes acknowledged during the upgrade read back"

step "11. a shard loses its quorum, and gets it back"
stop_store 2
stop_store 3
# A leader notices it lost its majority within an election timeout (checkQuorum): poll.
for _ in $(seq 1 100); do
  status=0
  "$UKV" status --config "$CONFIG" > "$WORK/status.txt" 2>&1 || status=$?
  [ "$status" -eq 7 ] && break
  sleep 0.2
done
tail -n 1 "$WORK/status.txt"
[ "$status" -eq 7 ] || fail "ukv status exited $status with 2 of 3 stores down, not 7 (SHARD_UNAVAILABLE)"
answer="$(redis-cli -h 127.0.0.2 -p $((PORT + 2)) set during-outage x)"
echo "redis-cli set while the quorum is gone: $answer"
case "$answer" in CLUSTERDOWN*|TRYAGAIN*) ;; *) fail "a write without quorum answered: $answer" ;; esac
curl -sf "http://127.0.0.2:$((PORT + 3))/metrics" > "$WORK/metrics-1.txt"
grep -E '^ukv_replica_has_leader\{shard="1"' "$WORK/metrics-1.txt"
start_store 2
start_store 3
wait_status_ok
[ "$("$UKV" kv get greeting --config "$CONFIG" --linearizable)" = hello ] || fail "greeting lost across the outage"
echo "every shard has a leader again; data intact"

step "12. stop"
for id in 1 2 3; do stop_store "$id"; done
echo "deployment trial passed"
