// A pipelined client for one ukv node's client port. Requests made in one event-loop turn go out
// as one frame; answers are matched by id in any order. Every request settles exactly once: with
// the server's answer, TIMEOUT after timeoutMs or when the connection breaks after the request was
// written (a write may or may not have been applied then: outcome unknown), or UNREACHABLE when
// the request never left (the node cannot be reached: nothing was applied, safe to send again). The connection is
// dialed lazily and redialed by the next request after a failure. Redirects (NOT_LEADER) are the
// caller's business: this client talks to exactly one address.
import * as pb from "../proto/kv.ts";
import { assert } from "../util/assert.ts";
import { frameSizeBytesMax } from "../util/limits.ts";
import { clientPassword, encodePassword } from "./client-auth.ts";
import { ConnectionKind, FrameDecoder, FrameType, encodeHello, frameHeaderSizeBytes, sealFrame } from "./frame.ts";
import { checkKvRequest, makeKvResponse, requestToWire, responseFromWire, type KvCode, type KvRequest, type KvResponse } from "./kv-protocol.ts";
import { connectTimeoutMsDefault } from "./socket-util.ts";
import { dialTcp, type TcpConnection } from "./tcp-connection.ts";
import { atTurnEnd } from "./turn-end.ts";

export const requestTimeoutMsDefault = 5000;
const requestFrameBudgetBytes = frameSizeBytesMax - 64 * 1024;

export interface KvClientOptions {
  /** Per request, from the call to the answer. Default 5000. */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  /** The cluster's password; default: the process's (setClientPassword). null: send none. */
  password?: string | null;
}

interface PendingRequest {
  resolve(response: KvResponse): void;
  /** performance.now() past which it times out. */
  deadlineMs: number;
  /** Written to a socket: a failure from now on leaves the outcome unknown. */
  sent: boolean;
}

export class KvClient {
  readonly address: string;
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #password: Uint8Array | null;
  #socket: TcpConnection | null = null;
  #connecting = false;
  #nextId = 1;
  readonly #pending = new Map<number, PendingRequest>();
  #outgoing: KvRequest[] = [];
  #flushScheduled = false;
  #closed = false;
  readonly #flushTask = (): void => this.#flush();
  /**
   * One timer for every pending request, not one each (a timer per request cost more than the
   * request's encode): requests share one timeout, so the Map's insertion order is deadline order
   * and the timer only ever waits for the oldest.
   */
  #timeoutTimer: ReturnType<typeof setTimeout> | null = null;
  readonly #timeOut = (): void => {
    this.#timeoutTimer = null;
    const nowMs = performance.now();
    for (const [id, pending] of this.#pending) {
      if (pending.deadlineMs > nowMs) {
        this.#timeoutTimer = setTimeout(this.#timeOut, pending.deadlineMs - nowMs);
        return;
      }
      this.#settle(id, "TIMEOUT", `No answer from ${this.address} within ${this.#timeoutMs} ms`);
    }
  };

  constructor(address: string, options: KvClientOptions = {}) {
    this.address = address;
    this.#timeoutMs = options.timeoutMs ?? requestTimeoutMsDefault;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? connectTimeoutMsDefault;
    const password = options.password === undefined ? clientPassword() : options.password;
    this.#password = password === null ? null : encodePassword(password);
    assert(this.#timeoutMs > 0 && this.#connectTimeoutMs > 0, "timeouts are positive");
  }

  /** Requests currently waiting for an answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  request(fields: Omit<KvRequest, "id">): Promise<KvResponse> {
    const id = this.#nextId++;
    if (this.#closed) return Promise.resolve(makeKvResponse(id, "UNREACHABLE", { message: "Client is closed" }));
    // The server checks too; checking here keeps an oversized request out of a frame.
    const refused = checkKvRequest({ ...fields, id });
    if (refused !== null) return Promise.resolve(refused);
    return new Promise<KvResponse>((resolve) => {
      this.#pending.set(id, { resolve, deadlineMs: performance.now() + this.#timeoutMs, sent: false });
      this.#timeoutTimer ??= setTimeout(this.#timeOut, this.#timeoutMs);
      this.#outgoing.push({ ...fields, id });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        atTurnEnd(this.#flushTask);
      }
    });
  }

  get(key: Uint8Array, options: { linearizable?: boolean } = {}): Promise<KvResponse> {
    return this.request({ op: "GET", key, value: new Uint8Array(0), linearizable: options.linearizable ?? false });
  }

  set(key: Uint8Array, value: Uint8Array): Promise<KvResponse> {
    return this.request({ op: "SET", key, value, linearizable: false });
  }

  delete(key: Uint8Array): Promise<KvResponse> {
    return this.request({ op: "DELETE", key, value: new Uint8Array(0), linearizable: false });
  }

  status(): Promise<KvResponse> {
    return this.request({ op: "STATUS", key: new Uint8Array(0), value: new Uint8Array(0), linearizable: false });
  }

  /** Settles everything pending with UNREACHABLE and closes the connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#outgoing = [];
    this.#socket?.destroy();
    this.#socket = null;
    this.#failAll("Client is closed");
  }

  #settle(id: number, code: KvCode, message: string): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    this.#stopTimerIfIdle();
    pending.resolve(makeKvResponse(id, code, { message }));
  }

  /** Nothing pending: no timer left to keep the process alive. */
  #stopTimerIfIdle(): void {
    if (this.#pending.size > 0 || this.#timeoutTimer === null) return;
    clearTimeout(this.#timeoutTimer);
    this.#timeoutTimer = null;
  }

  #failAll(message: string): void {
    for (const [id, pending] of [...this.#pending]) {
      if (pending.sent) this.#settle(id, "TIMEOUT", `${message} (the request was sent: outcome unknown)`);
      else this.#settle(id, "UNREACHABLE", message);
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#closed || this.#outgoing.length === 0) return;
    const socket = this.#socket;
    if (socket === null) {
      if (!this.#connecting) this.#connect();
      return; // flushed again once connected
    }
    const requests = this.#outgoing;
    this.#outgoing = [];
    let frame: pb.Request[] = [];
    let frameBytes = 0;
    for (const request of requests) {
      const pending = this.#pending.get(request.id);
      if (pending === undefined) continue; // timed out before it was sent
      pending.sent = true;
      const wire = requestToWire(request);
      const sizeBytes = pb.sizeRequest(wire) + 8;
      if (frameBytes + sizeBytes > requestFrameBudgetBytes && frame.length > 0) {
        socket.write(sealFrame(pb.encodeRequestBatch({ requests: frame }, frameHeaderSizeBytes), FrameType.KvRequests));
        frame = [];
        frameBytes = 0;
      }
      frame.push(wire);
      frameBytes += sizeBytes;
    }
    if (frame.length > 0) socket.write(sealFrame(pb.encodeRequestBatch({ requests: frame }, frameHeaderSizeBytes), FrameType.KvRequests));
  }

  #connect(): void {
    this.#connecting = true;
    dialTcp(this.address, this.#connectTimeoutMs).then(
      (socket) => {
        this.#connecting = false;
        if (this.#closed) {
          socket.destroy();
          return;
        }
        this.#attach(socket);
        this.#flush();
      },
      (error: unknown) => {
        this.#connecting = false;
        this.#outgoing = [];
        this.#failAll(error instanceof Error ? error.message : String(error));
      },
    );
  }

  #attach(socket: TcpConnection): void {
    this.#socket = socket;
    const decoder = new FrameDecoder({ expectHello: false });
    const drop = (message: string): void => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      socket.destroy();
      this.#failAll(message);
    };
    socket.attach({
      close: () => drop(`Connection to ${this.address} closed before the answer`),
      data: (chunk) => {
        const { frames, error } = decoder.push(chunk);
        for (const frame of frames) {
          if (frame.type !== FrameType.KvResponses) return drop(`Invalid answer from ${this.address}: frame type ${frame.type}`);
          try {
            for (const response of pb.decodeResponseBatch(frame.payload).responses) this.#deliver(responseFromWire(response));
          } catch (decodeError) {
            return drop(`Invalid answer from ${this.address}: ${decodeError instanceof Error ? decodeError.message : String(decodeError)}`);
          }
        }
        if (error !== null) drop(`Invalid answer from ${this.address}: ${error}`);
      },
    });
    socket.write(encodeHello({ kind: ConnectionKind.Client, nodeId: 0 }));
    // Before any request frame (#flush runs after this): the server checks it first.
    if (this.#password !== null) {
      const frame = new Uint8Array(frameHeaderSizeBytes + this.#password.byteLength);
      frame.set(this.#password, frameHeaderSizeBytes);
      socket.write(sealFrame(frame, FrameType.KvAuth));
    }
  }

  #deliver(response: KvResponse): void {
    const pending = this.#pending.get(response.id);
    if (pending === undefined) return; // already timed out
    this.#pending.delete(response.id);
    this.#stopTimerIfIdle();
    // Detach the value from the socket read it came in, which the caller would otherwise pin.
    pending.resolve(response.value.byteLength === 0 ? response : { ...response, value: response.value.slice() });
  }
}
