// In-test network of RawNodes: delivers messages synchronously, persists every Ready into a
// MemoryStorage before sending (the Ready contract), applies committed entries (conf changes via
// applyConfChange) and records them. Links can be cut per direction, and a filter can drop or
// inspect messages. Deterministic: the PRNG seed fixes election jitter.
import { decodeConfChange } from "../../../src/raft/conf-change.ts";
import { defaultRaftConfig } from "../../../src/raft/config.ts";
import { MemoryStorage } from "../../../src/raft/memory-storage.ts";
import { RawNode } from "../../../src/raft/raw-node.ts";
import {
  EntryType,
  Role,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type RaftConfig,
  type ReadState,
} from "../../../src/raft/types.ts";
import { Prng } from "../../../src/util/prng.ts";

/** Bound of delivery rounds in one stabilize(): a healthy cluster settles far sooner. */
const stabilizeRoundsMax = 10_000;

export interface TestNode {
  id: NodeId;
  storage: MemoryStorage;
  node: RawNode;
  applied: Entry[];
  readStates: ReadState[];
  conf: ConfState;
}

export interface NetworkOptions {
  seed?: number;
  configure?: (config: RaftConfig) => void;
  /** Prepares a node's storage before its RawNode reads it (preloaded logs, hard state). */
  prepare?: (id: NodeId, storage: MemoryStorage) => void;
}

export class Network {
  readonly nodes = new Map<NodeId, TestNode>();
  readonly #cut = new Set<string>();
  readonly #options: NetworkOptions;
  /** Return false to drop a message. Sees every message before delivery. */
  filter: ((message: Message) => boolean) | null = null;
  /** Every message delivered or dropped, for assertions. */
  readonly trace: Message[] = [];

  constructor(voters: NodeId[], options: NetworkOptions = {}) {
    this.#options = options;
    for (const id of voters) this.addNode(id, { voters, learners: [] });
  }

  addNode(id: NodeId, conf: ConfState): TestNode {
    const storage = new MemoryStorage({ conf });
    this.#options.prepare?.(id, storage);
    return this.#start(id, storage, conf, 0);
  }

  /** Simulates a crash and restart from the node's storage (state machine replayed from 0). */
  restart(id: NodeId): TestNode {
    const old = this.get(id);
    return this.#start(id, old.storage, old.storage.initialState().conf, 0);
  }

  #start(id: NodeId, storage: MemoryStorage, conf: ConfState, applied: number): TestNode {
    const config = defaultRaftConfig({ id, storage, random: new Prng((this.#options.seed ?? 1) * 1000 + id), applied });
    this.#options.configure?.(config);
    const testNode: TestNode = { id, storage, node: new RawNode(config), applied: [], readStates: [], conf };
    this.nodes.set(id, testNode);
    return testNode;
  }

  get(id: NodeId): TestNode {
    const found = this.nodes.get(id);
    if (found === undefined) throw new Error(`No node ${id}`);
    return found;
  }

  remove(id: NodeId): void {
    this.nodes.delete(id);
  }

  cut(a: NodeId, b: NodeId): void {
    this.#cut.add(`${a}-${b}`);
    this.#cut.add(`${b}-${a}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  heal(): void {
    this.#cut.clear();
  }

  /** Drains one node's Ready: persist, collect messages, apply, advance. */
  #drain(testNode: TestNode, outbox: Message[]): boolean {
    const { node, storage } = testNode;
    if (!node.hasReady()) return false;
    const ready = node.ready();
    if (ready.hardState !== null) storage.setHardState(ready.hardState);
    if (ready.snapshot !== null) {
      storage.applySnapshot(ready.snapshot);
      testNode.conf = ready.snapshot.metadata.conf;
      testNode.applied = [];
    }
    storage.append(ready.entries);
    for (const message of ready.messages) outbox.push(message);
    for (const entry of ready.committedEntries) {
      testNode.applied.push(entry);
      if (entry.type === EntryType.ConfChange) testNode.conf = node.applyConfChange(decodeConfChange(entry.data));
    }
    for (const readState of ready.readStates) testNode.readStates.push(readState);
    node.advance(ready);
    return true;
  }

  /** Delivers messages until no node has anything to do. */
  stabilize(): void {
    for (let round = 0; round < stabilizeRoundsMax; round++) {
      const outbox: Message[] = [];
      let busy = false;
      for (const testNode of this.nodes.values()) busy = this.#drain(testNode, outbox) || busy;
      for (const message of outbox) this.send(message);
      if (!busy && outbox.length === 0) return;
    }
    throw new Error("Network did not stabilize");
  }

  /** Delivers one message now (respecting cuts and the filter). */
  send(message: Message): void {
    this.trace.push(message);
    if (this.#cut.has(`${message.from}-${message.to}`)) return;
    if (this.filter !== null && !this.filter(message)) return;
    this.nodes.get(message.to)?.node.step(message);
  }

  tick(id: NodeId, count = 1): void {
    for (let i = 0; i < count; i++) {
      this.get(id).node.tick();
      this.stabilize();
    }
  }

  tickAll(count = 1): void {
    for (let i = 0; i < count; i++) {
      for (const testNode of this.nodes.values()) testNode.node.tick();
      this.stabilize();
    }
  }

  campaign(id: NodeId): void {
    this.get(id).node.campaign();
    this.stabilize();
  }

  propose(id: NodeId, text: string): void {
    this.get(id).node.propose(new TextEncoder().encode(text));
    this.stabilize();
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.node.status().role === Role.Leader).map((n) => n.id);
  }

  /** The non-empty payloads a node applied, as text. */
  appliedTexts(id: NodeId): string[] {
    const decoder = new TextDecoder();
    return this.get(id)
      .applied.filter((e) => e.type === EntryType.Normal && e.data.byteLength > 0)
      .map((e) => decoder.decode(e.data));
  }
}

export const text = (value: string): Uint8Array => new TextEncoder().encode(value);

/** Entries [from..to] of one term with a small payload, for preloading logs. */
export function entriesOfTerm(from: number, to: number, term: number): Entry[] {
  const entries: Entry[] = [];
  for (let index = from; index <= to; index++) entries.push({ index, term, type: EntryType.Normal, data: text(`${term}/${index}`) });
  return entries;
}
