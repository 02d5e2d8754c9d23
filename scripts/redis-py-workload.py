#!/usr/bin/python3
# The Redis workload of issue 15 with redis-py (Debian's python3-redis), against a running cluster
# (not part of `npm test`, which drives ioredis and node-redis). Start a cluster first, e.g.
#   ./dist/ukv cluster up --dir /tmp/ukv-py --port-base 21000 --shards 4
# then: /usr/bin/python3 scripts/redis-py-workload.py --port 21002 [--port 21012 ...] [--password P]
# Checks: a cache with TTLs, a lock (SET NX PX, compare-and-delete through WATCH/MULTI), the default
# pipeline() (a MULTI/EXEC transaction) on hash-tagged keys, a non-transactional pipeline, INCR
# from several threads through several stores ending at the exact count, SCAN over every shard,
# lists and hashes (RPUSH, LPOP/RPOP count, HSET mapping, HGETALL, HINCRBY, WRONGTYPE, SCAN TYPE).
# Prints one line per check and "redis-py workload: ok"; exits 1 on the first failure.
import argparse
import sys
import threading
import time

import redis


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name} {detail}")
        sys.exit(1)
    print(f"ok   {name}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, action="append", required=True, help="a store's RESP port (repeat for several)")
    parser.add_argument("--password", default=None)
    args = parser.parse_args()
    clients = [redis.Redis(host=args.host, port=port, password=args.password, decode_responses=True) for port in args.port]
    r = clients[0]
    prefix = f"py:{int(time.time() * 1000)}:"

    # A cache with TTLs.
    check("SET EX", r.set(prefix + "cache", "v", ex=60) is True)
    check("TTL", 58 <= r.ttl(prefix + "cache") <= 60)
    check("SETEX/PTTL", r.setex(prefix + "short", 1, "x") and 0 < r.pttl(prefix + "short") <= 1000)
    time.sleep(1.2)
    check("expired key gone", r.get(prefix + "short") is None and r.exists(prefix + "short") == 0)
    check("EXPIRE/PERSIST", r.expire(prefix + "cache", 100) and r.persist(prefix + "cache") and r.ttl(prefix + "cache") == -1)

    # A lock: SET NX PX, a second taker refused, compare-and-delete with WATCH/MULTI.
    lock = "{lock}:" + prefix
    check("lock taken", r.set(lock, "token-1", nx=True, px=10000) is True)
    check("lock refused", clients[-1].set(lock, "token-2", nx=True, px=10000) is None)
    with r.pipeline() as pipe:
        pipe.watch(lock)
        owner = pipe.get(lock)
        pipe.multi()
        pipe.delete(lock)
        released = pipe.execute() if owner == "token-1" else None
    check("lock released by its owner", released == [1] and r.get(lock) is None)

    # The default pipeline(): a MULTI/EXEC transaction, here on hash-tagged keys (one shard).
    tag = "{order:" + prefix + "}"
    with r.pipeline() as pipe:
        replies = pipe.set(tag + ":status", "new").incrby(tag + ":total", 42).incr(tag + ":lines").get(tag + ":status").execute()
    check("transaction pipeline", replies == [True, 42, 1, "new"], replies)
    # Two keys may share a shard by chance: of 10 pairs, some are on two shards.
    cross = None
    for index in range(10):
        try:
            with r.pipeline() as pipe:
                pipe.set(prefix + f"a{index}", "1").set(prefix + f"b{index}", "2").execute()
        except redis.exceptions.ResponseError as error:
            cross = str(error)
            break
    check("CROSSSLOT across shards", cross is not None and "CROSSSLOT" in cross, cross)
    with r.pipeline(transaction=False) as pipe:
        for index in range(100):
            pipe.set(prefix + f"p{index}", index)
        check("plain pipeline", all(pipe.execute()))

    # INCR from 4 threads x 250 through every given store: exactly 1,000.
    counter = prefix + "counter"
    def incr_many(client):
        for _ in range(250):
            client.incr(counter)
    threads = [threading.Thread(target=incr_many, args=(clients[index % len(clients)],)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check("INCR total", r.get(counter) == "1000", r.get(counter))

    # SCAN over every shard finds the 100 pipeline keys.
    found = set(r.scan_iter(match=prefix + "p*", count=500))
    check("SCAN", found == {prefix + f"p{index}" for index in range(100)}, len(found))
    check("DBSIZE", r.dbsize() >= 100)

    # Lists and hashes: a queue, a record, WRONGTYPE, SCAN TYPE.
    queue = prefix + "queue"
    check("RPUSH/LPUSH", r.rpush(queue, "a", "b") == 2 and r.lpush(queue, "z") == 3)
    check("LRANGE", r.lrange(queue, 0, -1) == ["z", "a", "b"])
    check("LPOP/RPOP count", r.lpop(queue) == "z" and r.rpop(queue, 2) == ["b", "a"] and r.exists(queue) == 0)
    record = prefix + "record"
    check("HSET mapping", r.hset(record, mapping={"name": "ada", "year": "1815"}) == 2)
    check("HGETALL", r.hgetall(record) == {"name": "ada", "year": "1815"})
    check("HINCRBY", r.hincrby(record, "year", 1) == 1816)
    try:
        r.get(record)
        wrong = None
    except redis.exceptions.ResponseError as error:
        wrong = str(error)
    check("WRONGTYPE", wrong is not None and wrong.startswith("WRONGTYPE"), wrong)
    check("TYPE hash", r.type(record) == "hash")
    check("SCAN TYPE hash", set(r.scan_iter(match=prefix + "*", count=1000, _type="hash")) == {record})
    print("redis-py workload: ok")


if __name__ == "__main__":
    main()
