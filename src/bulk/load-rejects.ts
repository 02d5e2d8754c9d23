// The reject file of `ukv load`: one line per bad row, "<line number>\t<reason>\n", in input
// order. Lines are buffered and appended in batches; `sync()` makes everything written so far
// durable before a checkpoint names the file's length. On resume the file is cut back to the
// length the checkpoint recorded, so the rejects of records read again are not written twice.
import { closeSync, fsyncSync, ftruncateSync, fstatSync, openSync, writeSync } from "node:fs";
import { UkvError } from "../util/errors.ts";

const flushSizeBytes = 64 * 1024;
/** A reason longer than this is cut (a reader's reasons are short; this keeps a line bounded). */
const reasonSizeMax = 512;

export class RejectFile {
  readonly path: string;
  #fd: number;
  #pending: string[] = [];
  #pendingBytes = 0;
  /** Bytes in the file once everything pending is written. */
  #sizeBytes: number;

  private constructor(path: string, fd: number, sizeBytes: number) {
    this.path = path;
    this.#fd = fd;
    this.#sizeBytes = sizeBytes;
  }

  /** Opens (creating) the file and cuts it to `keepBytes` (0 for a fresh load). */
  static open(path: string, keepBytes: number): RejectFile {
    let fd: number;
    try {
      fd = openSync(path, "a+");
      const sizeBytes = fstatSync(fd).size;
      if (sizeBytes < keepBytes) {
        closeSync(fd);
        throw new UkvError("CONFIG_INVALID", `Reject file ${path} has ${sizeBytes} bytes, fewer than the ${keepBytes} the checkpoint recorded: it was changed since; restore it or start over`);
      }
      ftruncateSync(fd, keepBytes);
    } catch (error) {
      if (error instanceof UkvError) throw error;
      throw new UkvError("IO_ERROR", `Cannot open the reject file ${path}: ${(error as Error).message}`, { cause: error });
    }
    return new RejectFile(path, fd, keepBytes);
  }

  /** Appends one reject; returns the file's size in bytes once it is written (its end offset). */
  add(lineNumber: number, reason: string): number {
    const clean = reason.replace(/[\t\r\n]+/g, " ").slice(0, reasonSizeMax);
    const line = `${lineNumber}\t${clean}\n`;
    const sizeBytes = Buffer.byteLength(line);
    this.#pending.push(line);
    this.#pendingBytes += sizeBytes;
    this.#sizeBytes += sizeBytes;
    if (this.#pendingBytes >= flushSizeBytes) this.#flush();
    return this.#sizeBytes;
  }

  /** Writes what is buffered and fsyncs: every reject added so far is durable. */
  sync(): void {
    this.#flush();
    try {
      fsyncSync(this.#fd);
    } catch (error) {
      throw new UkvError("IO_ERROR", `Cannot sync the reject file ${this.path}: ${(error as Error).message}`, { cause: error });
    }
  }

  close(): void {
    this.sync();
    closeSync(this.#fd);
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const text = this.#pending.join("");
    this.#pending = [];
    this.#pendingBytes = 0;
    try {
      writeSync(this.#fd, text);
    } catch (error) {
      throw new UkvError("IO_ERROR", `Cannot write the reject file ${this.path}: ${(error as Error).message}`, { cause: error });
    }
  }
}
