// One RESP client connection: parse, run, answer in request order. Each parsed command takes a
// reply slot at the tail of a FIFO and starts at once, so commands for different shards proceed
// in parallel; replies are written from the head as soon as the head is filled. Within the
// connection, a command waits for the earlier writes of this connection on any of its keys
// (SET k then GET k in one pipeline reads the new value, and two SETs of one key apply in order);
// a read that waited for such a write goes through the leader, since a follower may not have
// applied it yet. Reads are not ordered before later writes.
//
// Push-back: past respConnectionPendingCountMax unanswered commands, or while the socket's write
// buffer is full, the connection stops reading (TCP pushes back on the client). A fatal protocol
// error is answered, then the connection closes; QUIT closes after its +OK. The socket's
// push-back and close bookkeeping are the connection base's (transport/connection-server.ts).
import { ServedConnection } from "../../transport/connection-server.ts";
import type { ByteConnection } from "../../transport/tcp-connection.ts";
import { atTurnEnd } from "../../transport/turn-end.ts";
import { assert } from "../../util/assert.ts";
import { respArrayLengthMax, respBulkSizeBytesMax, respConnectionPendingCountMax, respInlineSizeBytesMax } from "../../util/limits.ts";
import type { Logger } from "../../util/log.ts";
import type { CommandTable } from "./resp-commands.ts";
import { execKeys, transactionControlNames } from "./resp-transaction-commands.ts";
import { keyName, keysOf, newSession, type CommandContext, type RespBackend, type RespServerStats, type RespSession } from "./resp-context.ts";
import { errorReply, RespWriter, type RespProtocol, type RespReply } from "./resp-encoder.ts";
import { RespParser, type RespParserLimits } from "./resp-parser.ts";

const queuedReply: RespReply = { type: "simple", text: "QUEUED" };
/** What a client may send before AUTH when a password is required (Redis: AUTH, HELLO, QUIT, RESET). */
const preAuthNames: ReadonlySet<string> = new Set(["auth", "hello", "quit"]);

interface ReplySlot {
  reply: RespReply | null;
  /** The protocol in force when the command ran (HELLO switches it for later replies only). */
  protocol: RespProtocol;
  closeAfter: boolean;
}

export interface RespConnectionOptions {
  sessionId: number;
  table: CommandTable;
  backend: RespBackend;
  stats: RespServerStats;
  logger: Logger;
  /** Metrics: each command's name (null: unknown or refused before running), reply and duration. */
  observeCommand?: RespCommandObserver | undefined;
  onClosed(): void;
  /** The password clients must AUTH with first; null: none. */
  requirepass?: string | null;
}

export type RespCommandObserver = (name: string | null, reply: RespReply, seconds: number) => void;

/** The parser limits of a client connection (the RESP fuzzer parses with these too). */
export const respConnectionParserLimits: RespParserLimits = { bulkSizeBytesMax: respBulkSizeBytesMax, arrayLengthMax: respArrayLengthMax, inlineSizeBytesMax: respInlineSizeBytesMax };

export class RespConnection extends ServedConnection {
  readonly #options: RespConnectionOptions;
  readonly #session: RespSession;
  readonly #parser = new RespParser(respConnectionParserLimits);
  readonly #writer = new RespWriter();
  #slots: ReplySlot[] = [];
  #headIndex = 0;
  /** Key (latin1) -> completion of the last pending write of it on this connection. */
  readonly #pendingWrites = new Map<string, Promise<void>>();
  #flushScheduled = false;
  /** No more commands are taken (fatal error, QUIT, server closing). */
  #stopped = false;
  /** The last reply to write was written: end the socket. */
  #ending = false;

  readonly #flushTask = (): void => {
    this.#flushScheduled = false;
    this.#flush();
    this.updateReading();
  };

  constructor(connection: ByteConnection, options: RespConnectionOptions) {
    super(connection, options.onClosed);
    this.#options = options;
    this.#session = newSession(options.sessionId, options.requirepass ?? null);
  }

  /** The session (read by the read pool's bridge, store/read-pool.ts, to tell its Worker what it may answer). */
  get session(): Readonly<RespSession> {
    return this.#session;
  }

  get pendingCount(): number {
    return this.#slots.length - this.#headIndex;
  }

  protected override isIdle(): boolean {
    return this.pendingCount === 0;
  }

  protected override readingBlocked(): boolean {
    return this.#stopped || this.pendingCount >= respConnectionPendingCountMax;
  }

  /** Takes no more commands (the ones taken are still answered). */
  protected override stopTaking(): void {
    this.#stopped = true;
  }

  protected override onData(chunk: Uint8Array): void {
    if (this.#stopped || this.closed) return;
    for (const parsed of this.#parser.push(chunk)) {
      if (this.#stopped) break;
      if (parsed.kind === "error") {
        this.#pushSlot({ reply: errorReply(`ERR ${parsed.message}`), protocol: this.#session.protocol, closeAfter: parsed.fatal });
        if (parsed.fatal) {
          this.#options.logger.warn({ event: "resp_protocol_error", session: this.#session.id, remote: this.connection.remoteAddress, reason: parsed.message });
          this.#stopped = true;
        }
        continue;
      }
      this.#execute(parsed.args);
    }
    this.#onSlotFilled();
    this.updateReading();
  }

  #pushSlot(slot: ReplySlot): void {
    this.#slots.push(slot);
  }

  #execute(args: Uint8Array[]): void {
    this.#options.stats.commandCountTotal++;
    const spec = this.#options.table.resolve(args);
    if (!this.#session.authenticated && !("type" in spec) && !preAuthNames.has(spec.name)) {
      this.#pushSlot({ reply: errorReply("NOAUTH Authentication required."), protocol: this.#session.protocol, closeAfter: false });
      return;
    }
    const observe = this.#options.observeCommand;
    const queue = this.#session.multi;
    if ("type" in spec) {
      observe?.(null, spec, 0);
      // Redis: an unknown command or a wrong arity inside MULTI makes EXEC fail (EXECABORT).
      if (queue !== null) queue.dirty = true;
      this.#pushSlot({ reply: spec, protocol: this.#session.protocol, closeAfter: false });
      return;
    }
    if (queue !== null && !transactionControlNames.has(spec.name)) {
      const part = spec.transaction?.(args);
      if (part === undefined) {
        queue.dirty = true;
        this.#pushSlot({ reply: errorReply(`ERR '${spec.name}' is not supported inside MULTI by ukv`), protocol: this.#session.protocol, closeAfter: false });
        return;
      }
      // An error of the command's arguments is its answer inside EXEC's reply, as in Redis.
      queue.parts.push("type" in part ? { steps: [], reply: () => part } : part);
      this.#pushSlot({ reply: queuedReply, protocol: this.#session.protocol, closeAfter: false });
      return;
    }
    const startedMs = observe === undefined ? 0 : performance.now();
    const keys = spec.name === "exec" ? execKeys(this.#session) : keysOf(spec, args);
    let waits: Promise<void>[] | null = null;
    if (this.#pendingWrites.size > 0) {
      for (const key of keys) {
        const pending = this.#pendingWrites.get(keyName(key));
        if (pending !== undefined) (waits ??= []).push(pending);
      }
    }
    const context: CommandContext = {
      backend: this.#options.backend,
      session: this.#session,
      stats: this.#options.stats,
      linearizable: this.#session.readMode === "linearizable" || waits !== null,
    };
    const result = waits === null ? runSafely(spec.run, context, args) : Promise.all(waits).then(() => spec.run(context, args));
    const slot: ReplySlot = { reply: null, protocol: this.#session.protocol, closeAfter: this.#session.closeAfterReply };
    this.#pushSlot(slot);
    if (slot.closeAfter) this.#stopped = true;
    if (!(result instanceof Promise)) {
      slot.reply = result;
      observe?.(spec.name, result, (performance.now() - startedMs) / 1000);
      return;
    }
    const done = result.then(
      (reply) => {
        slot.reply = reply;
      },
      (error: unknown) => {
        this.#options.logger.error({ event: "resp_command_error", session: this.#session.id, command: spec.name, err: error });
        slot.reply = errorReply(`ERR internal error: ${error instanceof Error ? error.message : String(error)}`);
      },
    );
    if (observe !== undefined) void done.then(() => observe(spec.name, slot.reply!, (performance.now() - startedMs) / 1000));
    if (spec.write) for (const key of keys) this.#trackWrite(keyName(key), done);
    void done.then(() => this.#onSlotFilled());
  }

  #trackWrite(name: string, done: Promise<void>): void {
    this.#pendingWrites.set(name, done);
    void done.then(() => {
      if (this.#pendingWrites.get(name) === done) this.#pendingWrites.delete(name);
    });
  }

  #onSlotFilled(): void {
    this.#writeReady();
    if (!this.#flushScheduled && (this.#writer.sizeBytes > 0 || this.#ending)) {
      this.#flushScheduled = true;
      // One write per event-loop turn for every reply completed in it (turn-end.ts).
      atTurnEnd(this.#flushTask);
    }
  }

  /** Encodes the filled slots at the head, in order. */
  #writeReady(): void {
    while (this.#headIndex < this.#slots.length && !this.#ending) {
      const slot = this.#slots[this.#headIndex];
      assert(slot !== undefined, "slots between head and tail exist");
      if (slot.reply === null) break;
      this.#writer.write(slot.reply, slot.protocol);
      this.#headIndex++;
      if (slot.closeAfter) this.#ending = true;
    }
    if (this.#headIndex === this.#slots.length) {
      this.#slots = [];
      this.#headIndex = 0;
    } else if (this.#headIndex >= 1024 && this.#headIndex * 2 >= this.#slots.length) {
      this.#slots = this.#slots.slice(this.#headIndex);
      this.#headIndex = 0;
    }
  }

  #flush(): void {
    if (this.closed) return;
    if (this.#writer.sizeBytes > 0) this.write(this.#writer.take());
    if (this.#ending) {
      this.connection.end();
      return;
    }
    this.noteAnswered();
  }
}

/** A synchronous throw becomes a rejected promise, answered like any failed command. */
function runSafely(run: CommandSpecRun, context: CommandContext, args: readonly Uint8Array[]): RespReply | Promise<RespReply> {
  try {
    return run(context, args);
  } catch (error) {
    return Promise.reject(error);
  }
}

type CommandSpecRun = (context: CommandContext, args: readonly Uint8Array[]) => RespReply | Promise<RespReply>;
