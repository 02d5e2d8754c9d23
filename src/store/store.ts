// One store: the `ukv node` process of one server. It hosts a replica of any number of Raft groups
// (data shards, and the metadata group on a metadata store), all sharing one Raft transport (one
// connection per store pair, messages tagged with the group id), one log (StoreLog: one
// fdatasync covers every group that appended in the same turn), one ticker, and the client and
// RESP listeners, which route every request (routing is built into every store).
// The replica's Raft id is the id of its store: a store hosts at most one replica of a group.
// Start-up: lock the store dir, read the manifest (which groups live here), recover the shared
// log, open each replica; shutdown in the reverse order.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { findStore, storeDataDir, type ClusterConfig, type StoreConfig } from "../config/cluster-config.ts";
import { metaGroupId, MetaService } from "../meta/meta-service.ts";
import { DirLock } from "../storage/dir-lock.ts";
import { StoreLog, type GroupRecovery } from "../storage/store-log.ts";
import { RaftTransport } from "../transport/raft-transport.ts";
import { parseAddress } from "../transport/socket-util.ts";
import type { StoreInfo } from "../transport/topology-wire.ts";
import { assert } from "../util/assert.ts";
import { UkvError } from "../util/errors.ts";
import { storeGroupCountMax } from "../util/limits.ts";
import type { Logger } from "../util/log.ts";
import { GroupRuntime, type ReplicaMetricsHooks, type SplitChild } from "../node/group-runtime.ts";
import { encodeMembership } from "../node/log-codec.ts";
import { equalRanges, type KeyRange } from "../ring/range-map.ts";
import { openFileReplicaState, realClock, replicaTransportOf, type ReplicaState } from "../node/replica-io.ts";
import { Table } from "../storage/table.ts";
import type { GroupMembership } from "../node/log-codec.ts";
import { readManifest, writeManifest, type StoreManifest } from "./store-manifest.ts";
import { buildMutationTestOnly } from "./build-mutation.ts";
import { LeaderSignal } from "./leader-signal.ts";
import { EarlyMessages } from "./early-messages.ts";
import { LoadSample } from "./load-sample.ts";
import { SnapshotStore } from "../storage/snapshot-store.ts";
import { splitChildBase } from "../node/split-child.ts";

export interface StoreOptions {
  config: ClusterConfig;
  storeId: number;
  /** Default: <config dataDir>/store-<id>. */
  dataDir?: string;
  logger: Logger;
  /** On losing the connection to a leader's store, its followers campaign early. Default true. */
  fastFailover?: boolean;
  /** A store that is not in the config (`ukv node --join`): where it listens. */
  joining?: StoreConfig;
  /** Metrics: the hooks of each replica as it opens (absent: metrics off). */
  replicaMetrics?: (groupId: number) => ReplicaMetricsHooks;
  /** Metrics: a split child created here (not on a replay that finds it already created). */
  onSplitApplied?: () => void;
}

/** A replica this store hosts, and how it serves. */
export interface HostedReplica {
  groupId: number;
  runtime: GroupRuntime;
}

export class Store {
  readonly storeId: number;
  readonly self: StoreConfig;
  readonly config: ClusterConfig;
  readonly dir: string;
  readonly logger: Logger;
  readonly transport: RaftTransport;
  readonly meta: MetaService | null;
  readonly raftPort: number;
  readonly #log: StoreLog;
  readonly #lock: DirLock;
  readonly #manifest: StoreManifest;
  readonly #replicas = new Map<number, GroupRuntime>();
  /** Group id -> its load here: keys read since start, and the hashes of recent accesses (a load split's cut); dropped with the replica. */
  readonly #loads = new Map<number, { keysRead: number; sample: LoadSample }>();
  readonly #leaderSignal = new LeaderSignal();
  /** Replicas being created or deleted: one change per group at a time. */
  readonly #changing = new Map<number, Promise<void>>();
  readonly #fastFailover: boolean;
  readonly #replicaMetrics: ((groupId: number) => ReplicaMetricsHooks) | undefined;
  readonly #onSplitApplied: (() => void) | undefined;
  readonly #peerOverrides: Map<number, string>;
  readonly #knownPeers = new Map<number, string>();
  /** Client address -> the Raft address dialed for that store (this store's own included): see raftAddressOfClient. */
  readonly #raftAddressByClient = new Map<string, string>();
  /** Raft messages for groups not hosted yet (a split child this store's apply has not created). */
  readonly #earlyMessages = new EarlyMessages();
  /**
   * After a restart: the recovered logs of split children whose base was not durable yet (a
   * group with log records that the manifest neither lists nor marks removed: a child is listed
   * once a snapshot of it is durable); each opens when its parent's replayed split hands it its base.
   */
  readonly #splitBaseRecovery = new Map<number, GroupRecovery | null>();
  #ticker: ReturnType<typeof setInterval> | null = null;
  #tickCount = 0;
  #closing: Promise<void> | null = null;
  /** Called when the set of hosted replicas changes (the reporter reports at once). */
  onReplicasChanged: (() => void) | null = null;

  private constructor(args: {
    options: StoreOptions;
    self: StoreConfig;
    dir: string;
    lock: DirLock;
    log: StoreLog;
    manifest: StoreManifest;
    transport: RaftTransport;
    raftPort: number;
    meta: MetaService | null;
    peerOverrides: Map<number, string>;
  }) {
    this.storeId = args.options.storeId;
    this.self = args.self;
    this.config = args.options.config;
    this.dir = args.dir;
    this.logger = args.options.logger;
    this.#lock = args.lock;
    this.#log = args.log;
    this.#manifest = args.manifest;
    this.transport = args.transport;
    this.raftPort = args.raftPort;
    this.meta = args.meta;
    this.#fastFailover = args.options.fastFailover ?? true;
    this.#replicaMetrics = args.options.replicaMetrics;
    this.#onSplitApplied = args.options.onSplitApplied;
    this.#peerOverrides = args.peerOverrides;
  }

  /** Locks the store dir, recovers every hosted replica and starts ticking them. */
  static async open(options: StoreOptions): Promise<Store> {
    const { config, storeId } = options;
    const self = options.joining ?? findStore(config, storeId);
    if (self === null) {
      throw new UkvError("CONFIG_INVALID", `Store id ${storeId} is not in the config's stores (a new store starts with --join)`);
    }
    const dir = options.dataDir ?? storeDataDir(config, storeId);
    mkdirSync(dir, { recursive: true });
    const lock = DirLock.acquire(dir);
    try {
      return await Store.#openLocked(options, self, dir, lock);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  static async #openLocked(options: StoreOptions, self: StoreConfig, dir: string, lock: DirLock): Promise<Store> {
    const { config, storeId } = options;
    const logger = options.logger;
    const manifest = readManifest(dir) ?? initialManifest(config, storeId, options.joining !== undefined);
    if (manifest.storeId !== storeId || manifest.clusterName !== config.clusterName) {
      throw new UkvError(
        "CONFIG_INVALID",
        `${dir} belongs to store ${manifest.storeId} of cluster ${manifest.clusterName}, not store ${storeId} of ${config.clusterName}: wrong --id or --data-dir?`,
      );
    }
    writeManifest(dir, manifest);
    const { log, recovery } = await StoreLog.open(join(dir, "log"), { segmentSizeBytes: config.walSegmentSizeBytes });
    let store: Store | null = null;
    // The transport starts before the replicas exist: messages for a group not open yet are dropped.
    const replicaOf = (groupId: number): GroupRuntime | undefined => (store === null ? undefined : store.#replicas.get(groupId));
    const allReplicas = (): GroupRuntime[] => (store === null ? [] : [...store.#replicas.values()]);
    const peerOverrides = peerAddressOverrides();
    const raftListen = parseAddress(self.raftAddress);
    const transport = new RaftTransport({
      nodeId: storeId,
      listenHost: raftListen.host,
      listenPort: raftListen.port,
      peers: new Map(),
      logger,
      onMessages: (groupId, messages) => {
        const runtime = replicaOf(groupId);
        if (runtime !== undefined) runtime.step(messages);
        else if (store !== null) store.#earlyMessages.hold(groupId, messages);
      },
      onSnapshot: async (groupId, message, chunks) => {
        const runtime = replicaOf(groupId);
        if (runtime === undefined) throw new UkvError("WRONG_SHARD", `Store ${storeId} holds no replica of group ${groupId}`);
        await runtime.receiveSnapshot(message, chunks);
      },
      onPeerDisconnected: (peerId) => {
        for (const runtime of allReplicas()) runtime.peerDisconnected(peerId);
      },
    });
    transport.onUnreachable = (groupId, peerId) => replicaOf(groupId)?.reportUnreachable(peerId);
    let raftPort: number;
    try {
      raftPort = (await transport.start()).port;
    } catch (error) {
      await log.close();
      throw error;
    }
    const meta = manifest.groups.has(metaGroupId) ? new MetaService(config, logger.child({ group: "meta" })) : null;
    store = new Store({ options, self, dir, lock, log, manifest, transport, raftPort, meta, peerOverrides });
    store.#raftAddressByClient.set(self.advertised.clientAddress, self.advertised.raftAddress);
    for (const configured of config.stores) {
      if (configured.id !== storeId) store.#learnPeer(configured.id, configured.advertised.raftAddress, configured.advertised.clientAddress);
    }
    try {
      // Groups the log knows but the manifest does not were being deleted when the store stopped
      // (listed as removed: their records go now), or are split children whose base was not yet
      // durable: their records (votes, entries this replica acknowledged) stay in the log, held
      // until the parent's replay of the split rebuilds the base they continue. Taking them out
      // here and writing them back later lost them to a second crash in between (found by the
      // simulator once it created children in the store's order).
      for (const [groupId, groupRecovery] of recovery) {
        if (manifest.groups.has(groupId)) continue;
        if (manifest.removed.has(groupId)) await log.group(groupId).remove();
        else store.#splitBaseRecovery.set(groupId, groupRecovery);
      }
      for (const [groupId, membership] of manifest.groups) {
        await store.#openReplica(groupId, membership, recovery.get(groupId) ?? null);
      }
    } catch (error) {
      await store.close();
      throw error;
    }
    const opened = store;
    opened.#ticker = setInterval(() => opened.#tick(), config.tickMs);
    logger.info({ event: "store_opened", store: storeId, groups: [...manifest.groups.keys()], raftPort, dir });
    return store;
  }

  /** The replica of `groupId` on this store, or null. */
  replica(groupId: number): GroupRuntime | null {
    return this.#replicas.get(groupId) ?? null;
  }

  /** Keys read from this store's replica of `groupId` (follower and leader reads, either thread). */
  countKeysRead(groupId: number, count: number): void {
    const load = this.#loadOf(groupId);
    if (load !== null) load.keysRead += count;
  }

  /** Records a sampled access (read or write) to a key of `groupId` by its hash. */
  sampleLoad(groupId: number, hash: bigint): void {
    this.#loadOf(groupId)?.sample.record(hash);
  }

  /** Where a load-based split of `groupId` should cut its range (LoadSample.splitPoint), or null. */
  loadSplitPoint(groupId: number, range: KeyRange): bigint | null {
    return this.#loads.get(groupId)?.sample.splitPoint(range) ?? null;
  }

  /** Keys read from the replica of `groupId` since this store started: the coordinator's read load. */
  keysRead(groupId: number): number {
    return this.#loads.get(groupId)?.keysRead ?? 0;
  }

  /** The load record of a replica this store hosts (made on first use), or null for any other group. */
  #loadOf(groupId: number): { keysRead: number; sample: LoadSample } | null {
    if (!this.#replicas.has(groupId)) return null;
    let load = this.#loads.get(groupId);
    if (load === undefined) this.#loads.set(groupId, (load = { keysRead: 0, sample: new LoadSample() }));
    return load;
  }

  replicas(): HostedReplica[] {
    return [...this.#replicas].map(([groupId, runtime]) => ({ groupId, runtime }));
  }

  storeInfo(): StoreInfo {
    return { id: this.storeId, ...this.self.advertised, httpAddress: this.self.advertisedHttpAddress };
  }

  /** Resolves when this store's replica of `groupId` learns of a leader, or after timeoutMs. */
  waitForLeader(groupId: number, timeoutMs: number): Promise<void> {
    return this.#leaderSignal.wait(groupId, timeoutMs);
  }

  logStats(): ReturnType<StoreLog["stats"]> {
    return this.#log.stats();
  }

  /** Metrics: each durable batch of the shared log (see Wal.onBatchDurable). */
  observeLogBatches(observer: (seconds: number, appendCount: number) => void): void {
    this.#log.observeBatches(observer);
  }

  /**
   * Creates an empty replica of `groupId` that waits to be added to the group (add-replica's first
   * step). It is not in `membership` yet, so it neither votes nor campaigns until the leader adds
   * it. Idempotent: a replica that exists already is left as it is.
   */
  async createReplica(groupId: number, membership: GroupMembership): Promise<void> {
    if (this.#replicas.has(groupId)) return;
    await this.#changing.get(groupId);
    if (this.#replicas.has(groupId)) return;
    if (this.#replicas.size >= storeGroupCountMax) {
      throw new UkvError("UNAVAILABLE", `Store ${this.storeId} hosts ${this.#replicas.size} replicas (storeGroupCountMax ${storeGroupCountMax})`);
    }
    const creating = (async () => {
      this.#manifest.groups.set(groupId, membership);
      this.#manifest.removed.delete(groupId); // an explicit add places a replica again
      writeManifest(this.dir, this.#manifest);
      await this.#openReplica(groupId, membership, null);
      this.logger.info({ event: "replica_created", shard: groupId, voters: membership.conf.voters });
    })();
    this.#changing.set(groupId, creating);
    try {
      await creating;
    } finally {
      this.#changing.delete(groupId);
    }
    this.onReplicasChanged?.();
  }

  /**
   * Opens a hosted replica; `state`: its state already in hand (a split child's), else from its
   * snapshot dir; `inMemoryBase`: that state is the group's at this index, not on disk yet.
   */
  async #openReplica(
    groupId: number,
    membership: GroupMembership,
    recovery: GroupRecovery | null,
    state?: ReplicaState,
    inMemoryBase?: { index: number; term: number },
  ): Promise<GroupRuntime> {
    const config = this.config;
    const logger = this.logger.child(groupId === metaGroupId ? { group: "meta" } : { shard: groupId });
    const meta = groupId === metaGroupId ? this.meta : null;
    // The metadata group stays correct: a mutant meta group stalls the whole cluster (routing,
    // placement) before the data shard's broken rule can show in the history the checkers read.
    const testOnly = groupId === metaGroupId ? undefined : buildMutationTestOnly();
    const runtime = await GroupRuntime.open({
      nodeId: this.storeId,
      groupId,
      initialMembership: membership,
      log: this.#log.group(groupId),
      recovery,
      state: state ?? openFileReplicaState(join(this.dir, "groups", String(groupId), "snap")),
      transport: replicaTransportOf(this.transport),
      clock: realClock,
      logger,
      tickMs: config.tickMs,
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      snapshotEntriesThreshold: config.snapshotEntriesThreshold,
      fastFailover: this.#fastFailover,
      quiesceAfterTicks: config.electionTicks,
      ...(preferredLeaderOf(config, groupId) === null ? {} : { preferredLeader: preferredLeaderOf(config, groupId)! }),
      onMembershipChanged: (changed) => {
        for (const [id, address] of changed.addresses) if (id !== this.storeId) this.#learnPeer(id, address.raftAddress, address.clientAddress);
      },
      onLeaderChanged: (leader) => {
        if (leader !== 0) this.#leaderSignal.notify(groupId);
      },
      onRemoved: () => {
        // Not from inside the Ready loop that applied the removal: the replica is closed first.
        setTimeout(() => void this.#deleteReplica(groupId), 0);
      },
      onSplit: (child) => this.#createSplitChild(child, groupId),
      onSnapshotDeferred: () => this.#requestSplitBaseSnapshots(),
      ...(inMemoryBase === undefined ? {} : { inMemoryBase }),
      ...(meta === null ? {} : { transformBatch: meta.transformBatch, onApplied: () => meta.onApplied() }),
      // Undefined unless this binary was built as a mutant (src/store/build-mutation.ts).
      ...(testOnly === undefined ? {} : { testOnly }),
      ...(this.#replicaMetrics === undefined ? {} : { metrics: this.#replicaMetrics(groupId) }),
    });
    this.#replicas.set(groupId, runtime);
    meta?.attach(runtime);
    const early = this.#earlyMessages.take(groupId);
    if (early.length > 0) runtime.step(early);
    if (preferredLeaderOf(config, groupId) === this.storeId) {
      // A few ticks for the other stores to come up, so the pre-vote can reach a majority.
      setTimeout(() => runtime.campaignIfLeaderless(), config.tickMs * preferredCampaignDelayTicks);
    }
    return runtime;
  }

  /**
   * The child of a split applied by a replica here: it opens at once with the keys the split took
   * out of the parent (its base, at splitBaseIndex, the same on every replica: no network copy),
   * before that base is on disk: saving it (O(keys)) would keep the child, and every write to its
   * keys, waiting. The manifest lists the child only once a snapshot of it is durable, and the
   * returned promise settles then; until then the parent takes no snapshot, so its log keeps the
   * split, and the parent's commit index covering the split is durable before the child writes
   * anything (the same store log batch, ahead of the child's records): a restart replays the split
   * from the parent's own log and comes back here with the same base, which the child's recovered
   * log (votes, entries) continues. A listed child is left as it is by a replay, and so is one
   * removed from this store since.
   */
  async #createSplitChild(child: SplitChild, parentId: number): Promise<void | { baseDurable: Promise<void> }> {
    const { childId, membership } = child;
    await this.#changing.get(childId);
    if (this.#replicas.has(childId) || this.#manifest.groups.has(childId) || this.#manifest.removed.has(childId) || this.#closing !== null) {
      child.stateMachine.close();
      return;
    }
    const startedMs = performance.now();
    const rebuilt = this.#splitBaseRecovery.has(childId);
    const base = splitChildBase();
    const creating = (async (): Promise<GroupRuntime> => {
      assert(child.stateMachine instanceof Table, "a store's replicas hold native tables, and so do their split children");
      const snapDir = join(this.dir, "groups", String(childId), "snap");
      const recovered = this.#splitBaseRecovery.get(childId) ?? null;
      this.#splitBaseRecovery.delete(childId);
      if (recovered !== null && new SnapshotStore(snapDir).latest() !== null) {
        // Its first snapshot became durable just before a crash (the manifest not written yet).
        child.stateMachine.close();
        this.#listInManifest(childId, membership);
        return await this.#openReplica(childId, membership, recovered);
      }
      if (recovered !== null && (recovered.hardState !== null || recovered.entries.length > 0)) {
        // Its votes and entries are still in the store log (start-up keeps an unlisted child's
        // records): they continue the base the replay just rebuilt.
        return await this.#openReplica(childId, membership, recovered, openFileReplicaState(snapDir, child.stateMachine), base.inMemoryBase);
      }
      // A new child (or leftovers of a creation a crash interrupted before it wrote anything).
      rmSync(join(this.dir, "groups", String(childId)), { recursive: true, force: true });
      const state = openFileReplicaState(snapDir, child.stateMachine);
      const parent = this.#replicas.get(parentId);
      assert(parent !== undefined, "a split is applied by a replica this store hosts");
      const log = this.#log.group(childId);
      // One store log batch: the parent's commit first, so any record of the child implies it.
      await Promise.all([parent.makeCommitDurable(), log.reset(base.inMemoryBase.index), log.append({ entries: [], hardState: base.hardState })]);
      return await this.#openReplica(childId, membership, base.recovery, state, base.inMemoryBase);
    })();
    // Others wait for this creation to settle, not for its outcome (the parent's apply gets that).
    this.#changing.set(
      childId,
      creating.then(
        () => undefined,
        () => undefined,
      ),
    );
    let runtime: GroupRuntime;
    try {
      runtime = await creating;
    } catch (error) {
      child.stateMachine.close();
      throw error;
    } finally {
      this.#changing.delete(childId);
    }
    // A restart that rebuilt a child from the replayed split did not create a new one.
    if (!rebuilt) this.#onSplitApplied?.();
    this.logger.info({ event: rebuilt ? "split_child_rebuilt" : "split_child_created", shard: childId, parentIndex: child.splitIndex, keyCount: runtime.table.count(), durationMs: Math.round(performance.now() - startedMs) });
    // The parent's leader campaigns for the child at once, as TiKV does: the other replicas hold
    // its vote requests until their own apply created it (EarlyMessages), so no election timeout.
    if (this.#replicas.get(parentId)?.isLeader() === true) runtime.campaignIfLeaderless();
    this.onReplicasChanged?.();
    return { baseDurable: this.#listWhenBaseDurable(childId, membership, runtime, startedMs) };
  }

  /** The manifest lists a split child once a snapshot of it is durable (a replay of the split then leaves it alone). */
  async #listWhenBaseDurable(childId: number, membership: GroupMembership, runtime: GroupRuntime, startedMs: number): Promise<void> {
    const durable = await runtime.whenBaseDurable();
    if (durable && this.#closing === null && this.#replicas.get(childId) === runtime && !this.#manifest.groups.has(childId)) {
      this.#listInManifest(childId, membership);
      this.logger.info({ event: "split_child_base_durable", shard: childId, durationMs: Math.round(performance.now() - startedMs) });
    }
  }

  #listInManifest(groupId: number, membership: GroupMembership): void {
    this.#manifest.groups.set(groupId, membership);
    writeManifest(this.dir, this.#manifest);
  }

  /** A parent's snapshot waits for its split children's bases: each child not listed yet takes a snapshot now. */
  #requestSplitBaseSnapshots(): void {
    for (const [groupId, runtime] of this.#replicas) if (!this.#manifest.groups.has(groupId)) runtime.requestSnapshot();
  }

  /**
   * A shard the metadata lists with this store as a member, that this store does not host: a
   * split child whose parent here caught up by a snapshot taken after the split (it never applied
   * the split, so it never created the child). Created empty, its leader sends it a snapshot.
   * Only when no replica here owns any of its range: while the parent still does, the parent's
   * own apply of the split will create the child with its data, locally.
   */
  async adoptMissingReplica(groupId: number, membership: GroupMembership): Promise<boolean> {
    const range = membership.range;
    if (range === undefined || this.#replicas.has(groupId) || this.#changing.has(groupId) || this.#manifest.removed.has(groupId) || this.#splitBaseRecovery.has(groupId) || this.#closing !== null) return false;
    if (!membership.conf.voters.includes(this.storeId) && !membership.conf.learners.includes(this.storeId)) return false;
    for (const runtime of this.#replicas.values()) {
      const mine = runtime.range();
      if (mine !== null && mine.start <= range.end && range.start <= mine.end) return false;
    }
    this.logger.warn({ event: "replica_adopted", shard: groupId }, `store ${this.storeId} is a member of shard ${groupId} but holds no replica of it: created empty, to be filled by a snapshot`);
    await this.createReplica(groupId, membership);
    return true;
  }

  /** A replica removed from its group: its data goes (manifest first, so a crash cannot revive it). */
  async #deleteReplica(groupId: number): Promise<void> {
    const runtime = this.#replicas.get(groupId);
    if (runtime === undefined || this.#closing !== null) return;
    const deleting = (async () => {
      // Its log is all that can rebuild a split child whose base is not durable yet: deleting it
      // first left that child, after a restart, held for a replay that never came, and the shard
      // lost this member for good (the simulator's port of the store's child order: seed 315).
      await runtime.whenSplitChildrenSaved();
      if (this.#closing !== null || this.#replicas.get(groupId) !== runtime) return;
      this.#manifest.groups.delete(groupId);
      this.#manifest.removed.add(groupId);
      writeManifest(this.dir, this.#manifest);
      this.#replicas.delete(groupId);
      this.#loads.delete(groupId);
      await runtime.close();
      await this.#log.group(groupId).remove();
      rmSync(join(this.dir, "groups", String(groupId)), { recursive: true, force: true });
      this.logger.warn({ event: "replica_deleted", shard: groupId }, `store ${this.storeId} deleted its removed replica of shard ${groupId}`);
    })();
    this.#changing.set(groupId, deleting);
    try {
      await deleting;
    } catch (error) {
      this.logger.error({ event: "replica_delete_failed", shard: groupId, err: error });
    } finally {
      this.#changing.delete(groupId);
    }
    this.onReplicasChanged?.();
  }

  /**
   * Where this store's routing sends a request meant for the store at `clientAddress` that must
   * reach its Raft thread (a write, a linearizable read): that store's Raft port, which serves the
   * client protocol on the Raft thread, one thread hop shorter than its client port when a read pool
   * owns that. Null for an address this store does not know (the caller uses the client address).
   */
  raftAddressOfClient(clientAddress: string): string | null {
    return this.#raftAddressByClient.get(clientAddress) ?? null;
  }

  /** Dial `peerId` (another store) at its Raft address, unless the harness overrides it. */
  #learnPeer(peerId: number, raftAddress: string, clientAddress: string): void {
    const address = this.#peerOverrides.get(peerId) ?? raftAddress;
    this.#raftAddressByClient.set(clientAddress, address);
    if (this.#knownPeers.get(peerId) === address) return;
    this.#knownPeers.set(peerId, address);
    this.transport.setPeer(peerId, address);
  }

  /** Stores joined at run time: learned from the metadata group's topology. */
  learnStores(stores: readonly StoreInfo[]): void {
    for (const store of stores) if (store.id !== this.storeId) this.#learnPeer(store.id, store.raftAddress, store.clientAddress);
  }

  #tick(): void {
    this.#tickCount++;
    for (const runtime of this.#replicas.values()) runtime.tick();
    // Store-level liveness, once a heartbeat interval: quiesced groups send nothing, so a leader's
    // store that went silent (crashed, paused, cut off) must wake the groups it leads here.
    if (this.#tickCount % this.config.heartbeatTicks === 0) {
      this.transport.sendLiveness();
      const silenceMsMax = this.config.electionTicks * this.config.tickMs;
      for (const peerId of this.#knownPeers.keys()) {
        if (this.transport.silenceMs(peerId) < silenceMsMax) continue;
        for (const runtime of this.#replicas.values()) runtime.peerSuspected(peerId);
      }
    }
    // Once a second, not every tick: with two or more segments a pass lists the log directory and
    // scans every group, and space reclamation does not need a finer grain.
    if (this.#tickCount % Math.max(1, Math.round(logMaintainIntervalMs / this.config.tickMs)) === 0) {
      void this.#log.maintain().catch((error: unknown) => this.logger.warn({ event: "log_maintain_failed", err: error }));
    }
  }

  /** Stops ticking, closes every replica, the transport and the log, then releases the dir lock. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#ticker !== null) clearInterval(this.#ticker);
      await Promise.allSettled([...this.#changing.values()]);
      await this.meta?.stop();
      for (const runtime of this.#replicas.values()) await runtime.close();
      await this.transport.close();
      await this.#log.close();
      this.#lock.release();
    })();
    return this.#closing;
  }
}

/** How often the shared log reclaims segments no group needs any more. */
const logMaintainIntervalMs = 1000;

/** Ticks the preferred leader waits before it campaigns at start. */
const preferredCampaignDelayTicks = 4;

/** The store the placement prefers as a group's leader: the first replica listed (or metadata store). */
function preferredLeaderOf(config: ClusterConfig, groupId: number): number | null {
  if (groupId === metaGroupId) return config.metaStores[0] ?? null;
  return config.shards.find((shard) => shard.id === groupId)?.replicas[0] ?? null;
}

/** The groups a store hosts on its first start: the metadata group if it is a metadata store, and its placed shards. */
function initialManifest(config: ClusterConfig, storeId: number, joining: boolean): StoreManifest {
  const groups = new Map<number, GroupMembership>();
  if (!joining) {
    const addressesOf = (ids: readonly number[]): GroupMembership["addresses"] =>
      new Map(
        ids.map((id) => {
          const store = findStore(config, id);
          assert(store !== null, "placements name configured stores (checked with the config)");
          return [id, { raftAddress: store.advertised.raftAddress, clientAddress: store.advertised.clientAddress }];
        }),
      );
    if (config.metaStores.includes(storeId)) {
      groups.set(metaGroupId, { conf: { voters: [...config.metaStores], learners: [] }, addresses: addressesOf(config.metaStores) });
    }
    const ranges = new Map(equalRanges(config.shards.map((shard) => shard.id)).map((range) => [range.shardId, range]));
    for (const shard of config.shards) {
      if (!shard.replicas.includes(storeId)) continue;
      const range = ranges.get(shard.id);
      assert(range !== undefined, "every configured shard has an initial range");
      groups.set(shard.id, { conf: { voters: [...shard.replicas], learners: [] }, addresses: addressesOf(shard.replicas), range });
    }
  }
  return { storeId, clusterName: config.clusterName, groups, removed: new Set() };
}

/** UKV_PEER_ADDRESS_OVERRIDES (chaos harness only): a JSON map store id -> "host:port" to dial instead. */
function peerAddressOverrides(): Map<number, string> {
  const text = process.env.UKV_PEER_ADDRESS_OVERRIDES;
  if (text === undefined || text === "") return new Map();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UkvError("CONFIG_INVALID", `UKV_PEER_ADDRESS_OVERRIDES must be a JSON object: ${text}`, { cause: error });
  }
  if (parsed === null || typeof parsed !== "object") throw new UkvError("CONFIG_INVALID", `UKV_PEER_ADDRESS_OVERRIDES must be a JSON object: ${text}`);
  const overrides = new Map<number, string>();
  for (const [id, address] of Object.entries(parsed)) {
    if (typeof address !== "string") throw new UkvError("CONFIG_INVALID", `UKV_PEER_ADDRESS_OVERRIDES: store ${id} needs a "host:port" string`);
    overrides.set(Number(id), address);
  }
  return overrides;
}
