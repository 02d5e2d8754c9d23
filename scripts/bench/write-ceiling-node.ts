// One process of the bare write chain that `redis-compare.ts --ceiling` measures beside ukv: the
// hops and fdatasyncs of a durable replicated SET through a store's RESP port, in Bun, and
// nothing else (no Raft, no table, no protocol beyond a length-prefixed frame). It answers "how
// fast can this shape go on this machine?": three processes on loopback, like `ukv cluster up`.
//
//   redis-benchmark -> entry (RESP port) -> leader: appends, fdatasyncs, sends to both followers
//   followers (entry and follower) append, fdatasync, acknowledge -> leader: durable on 2 of 3
//   -> entry -> "+OK"
//
// Each process appends to a preallocated file (as the WAL's preallocated segments: fdatasync
// then has no file size to flush) with one fdatasync in flight (group commit), on the runtime's
// thread pool (node:fs callbacks), so no event loop waits on the disk. Sends are gathered per
// event-loop turn into one write per socket, as ukv's transport does, and the SETs of one read
// from a client travel as one request (a pipeline is one log record). Only `SET key value`.
//
// With MODE "local" the entry leads itself (the best case of a RESP SET: the store holding the
// connection leads the key's shard, a third of the keys of `cluster up`), and the other two
// processes are its followers: client -> entry (appends, fdatasyncs, sends to both) -> "+OK".
//
// Usage: bun scripts/bench/write-ceiling-node.ts entry|leader|follower PORT_BASE DIR [forward|local]
// Ports: entry's RESP port PORT_BASE, the leader PORT_BASE+1, the followers' PORT_BASE+2 (entry)
// and PORT_BASE+3 (follower); in local mode the "leader" process is a follower on PORT_BASE+1.
// Prints "<role> ready" once listening and connected.
import { fdatasync, openSync, write, writeSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";

const [role, portBaseText, dir, mode = "forward"] = process.argv.slice(2);
if ((role !== "entry" && role !== "leader" && role !== "follower") || portBaseText === undefined || dir === undefined || (mode !== "forward" && mode !== "local")) {
  console.error("usage: write-ceiling-node.ts entry|leader|follower PORT_BASE DIR [forward|local]");
  process.exit(2);
}
const portBase = Number(portBaseText);
const ports = { resp: portBase, leader: portBase + 1, entryFollower: portBase + 2, follower: portBase + 3 };
const fileSizeBytes = 64 * 1024 * 1024;
const frameSizeBytesMax = 1024 * 1024;
const FrameType = { Request: 1, Reply: 2, Append: 3, Ack: 4 } as const;

// ---- the log: a preallocated ring, one fdatasync in flight ---------------------------------
const fd = openSync(join(dir, `${role}.log`), "w+");
const zeros = Buffer.alloc(1024 * 1024);
for (let offset = 0; offset < fileSizeBytes; offset += zeros.byteLength) writeSync(fd, zeros, 0, zeros.byteLength, offset);
let logOffset = 0;
let queued: Uint8Array[] = [];
let queuedDone: (() => void)[] = [];
let syncing = false;

function appendDurable(record: Uint8Array, done: () => void): void {
  queued.push(record);
  queuedDone.push(done);
  if (!syncing) startSync();
}

function startSync(): void {
  if (queued.length === 0) return;
  syncing = true;
  const bytes = Buffer.concat(queued);
  const done = queuedDone;
  queued = [];
  queuedDone = [];
  if (logOffset + bytes.byteLength > fileSizeBytes) logOffset = 0;
  write(fd, bytes, 0, bytes.byteLength, logOffset, (writeError) => {
    if (writeError !== null) throw writeError;
    logOffset += bytes.byteLength;
    fdatasync(fd, (syncError) => {
      if (syncError !== null) throw syncError;
      syncing = false;
      for (const callback of done) callback();
      startSync();
    });
  });
}

// ---- frames: [u32 length][u8 type][u32 id][payload], gathered per turn -----------------------
interface Link {
  pending: Buffer | null;
}
type LinkSocket = Socket<Link>;
type FrameHandler = (socket: LinkSocket, type: number, id: number, payload: Uint8Array) => void;
const outbox = new Map<LinkSocket, Uint8Array[]>();
let flushScheduled = false;

function send(socket: LinkSocket, type: number, id: number, payload: Uint8Array): void {
  const header = Buffer.allocUnsafe(9);
  header.writeUInt32LE(5 + payload.byteLength, 0);
  header[4] = type;
  header.writeUInt32LE(id, 5);
  let chunks = outbox.get(socket);
  if (chunks === undefined) outbox.set(socket, (chunks = []));
  chunks.push(header, payload);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

function flush(): void {
  flushScheduled = false;
  for (const [socket, chunks] of outbox) socket.write(Buffer.concat(chunks));
  outbox.clear();
}

function frameReader(handle: FrameHandler): (socket: LinkSocket, chunk: Buffer) => void {
  return (socket, chunk) => {
    const bytes = socket.data.pending === null ? chunk : Buffer.concat([socket.data.pending, chunk]);
    let offset = 0;
    while (bytes.byteLength - offset >= 4) {
      const length = bytes.readUInt32LE(offset);
      if (length < 5 || length > frameSizeBytesMax) throw new Error(`bad frame length ${length}`);
      if (bytes.byteLength - offset < 4 + length) break;
      handle(socket, bytes[offset + 4]!, bytes.readUInt32LE(offset + 5), bytes.subarray(offset + 9, offset + 4 + length));
      offset += 4 + length;
    }
    socket.data.pending = offset < bytes.byteLength ? bytes.subarray(offset) : null;
  };
}

function listenFrames(port: number, handle: FrameHandler): void {
  Bun.listen<Link>({ hostname: "127.0.0.1", port, socket: { open: (socket) => void (socket.data = { pending: null }), data: frameReader(handle) } });
}

async function dialFrames(port: number, handle: FrameHandler): Promise<LinkSocket> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await Bun.connect<Link>({ hostname: "127.0.0.1", port, data: { pending: null }, socket: { data: frameReader(handle) } });
    } catch (error) {
      if (attempt >= 100) throw error;
      await Bun.sleep(100);
    }
  }
}

// ---- roles ------------------------------------------------------------------------------------
const empty = new Uint8Array(0);

/** The leader's side: sends a record to both followers and persists it; `durable` once on 2 of 3. */
async function leaderOf(followerPorts: readonly number[]): Promise<(record: Uint8Array, durable: () => void) => void> {
  const waiting = new Map<number, { durable: () => void; durableCount: number }>();
  let nextIndex = 1;
  const durableOn = (index: number): void => {
    const write = waiting.get(index);
    if (write === undefined) return;
    // A majority of 3: the leader's own fdatasync and one follower's, or both followers'.
    if (++write.durableCount < 2) return;
    waiting.delete(index);
    write.durable();
  };
  const onFollowerFrame: FrameHandler = (_socket, type, index) => {
    if (type === FrameType.Ack) durableOn(index);
  };
  const followers: LinkSocket[] = [];
  for (const port of followerPorts) followers.push(await dialFrames(port, onFollowerFrame));
  return (record, durable) => {
    const index = nextIndex++;
    waiting.set(index, { durable, durableCount: 0 });
    for (const follower of followers) send(follower, FrameType.Append, index, record);
    appendDurable(Uint8Array.from(record), () => durableOn(index));
  };
}

const isFollower = mode === "local" ? role !== "entry" : role !== "leader";
// A follower persists, then acknowledges (never before the fdatasync returned).
if (isFollower) {
  const port = role === "entry" ? ports.entryFollower : role === "leader" ? ports.leader : ports.follower;
  listenFrames(port, (socket, type, id, payload) => {
    if (type === FrameType.Append) appendDurable(Uint8Array.from(payload), () => send(socket, FrameType.Ack, id, empty));
  });
}

if (role === "leader" && mode === "forward") {
  const replicate = await leaderOf([ports.entryFollower, ports.follower]);
  listenFrames(ports.leader, (socket, type, id, payload) => {
    if (type === FrameType.Request) replicate(payload, () => send(socket, FrameType.Reply, id, empty));
  });
}

if (role === "entry") {
  const replyTo = new Map<number, { client: LinkSocket; count: number }>();
  let nextId = 1;
  const oks = Buffer.from("+OK\r\n".repeat(1024));
  const answer = (id: number): void => {
    const request = replyTo.get(id);
    replyTo.delete(id);
    request?.client.write(oks.subarray(0, 5 * request.count));
  };
  let submit: (id: number, record: Uint8Array) => void;
  if (mode === "local") {
    const replicate = await leaderOf([ports.leader, ports.follower]);
    submit = (id, record) => replicate(record, () => answer(id));
  } else {
    const leader = await dialFrames(ports.leader, (_socket, type, id) => {
      if (type === FrameType.Reply) answer(id);
    });
    submit = (id, record) => send(leader, FrameType.Request, id, record);
  }
  Bun.listen<Link>({
    hostname: "127.0.0.1",
    port: ports.resp,
    socket: {
      open: (socket) => void (socket.data = { pending: null }),
      data(socket, chunk) {
        const bytes = socket.data.pending === null ? chunk : Buffer.concat([socket.data.pending, chunk]);
        let offset = 0;
        // redis-benchmark's SET: *3 $3 SET $n key $n value, each line ending in CRLF. Up to
        // 1,024 SETs per request (the replies' buffer).
        for (let parsed = parseCommand(bytes, offset); parsed !== null; ) {
          const keysAndValues: Uint8Array[] = [];
          for (; parsed !== null && keysAndValues.length < 2048; parsed = parseCommand(bytes, offset)) {
            offset = parsed.end;
            keysAndValues.push(parsed.args[1] ?? empty, parsed.args[2] ?? empty);
          }
          const id = nextId++;
          replyTo.set(id, { client: socket, count: keysAndValues.length / 2 });
          submit(id, Buffer.concat(keysAndValues));
        }
        socket.data.pending = offset < bytes.byteLength ? bytes.subarray(offset) : null;
      },
    },
  });
}

/** One RESP array of bulk strings from `start`, or null when it has not all arrived. */
function parseCommand(bytes: Buffer, start: number): { args: Uint8Array[]; end: number } | null {
  if (start >= bytes.byteLength) return null;
  if (bytes[start] !== 0x2a) throw new Error("only RESP arrays of bulk strings");
  let lineEnd = bytes.indexOf(0x0d, start);
  if (lineEnd < 0) return null;
  const count = Number(bytes.toString("latin1", start + 1, lineEnd));
  let position = lineEnd + 2;
  const args: Uint8Array[] = [];
  for (let index = 0; index < count; index++) {
    lineEnd = bytes.indexOf(0x0d, position);
    if (lineEnd < 0) return null;
    const length = Number(bytes.toString("latin1", position + 1, lineEnd));
    if (bytes.byteLength < lineEnd + 2 + length + 2) return null;
    args.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + length));
    position = lineEnd + 2 + length + 2;
  }
  return { args, end: position };
}

console.log(`${role} ready`);
