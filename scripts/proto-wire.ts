// Protobuf wire-format runtime for the codecs that scripts/gen-proto.ts generates. This file is
// copied verbatim to src/proto/wire.ts by the generator (src/proto/ may import nothing outside
// itself), so edit it here. It owns: varint sizing, a writer over one exactly-sized buffer (the
// generated code computes the size first, so encoding allocates once), and a bounds-checked reader
// whose bytes fields are zero-copy subarrays of the input.
// 64-bit integers are JavaScript numbers: every uint64 in our protocols is an index, a term, an id
// or a size, all below 2^53. A larger value on the wire is malformed input (ProtoDecodeError); a
// larger value handed to the writer is a bug (AssertionError-like Error).

/** Malformed input: the caller closes the connection that sent it, never crashes. */
export class ProtoDecodeError extends Error {
  override name = "ProtoDecodeError";
}

export const wireTypeVarint = 0;
export const wireTypeFixed64 = 1;
export const wireTypeLengthDelimited = 2;
export const wireTypeFixed32 = 5;

/** Longest varint the format allows (a 64-bit value). */
const varintSizeBytesMax = 10;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** Bytes a varint of `value` takes; value is a non-negative safe integer. */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  if (value < 0x800000000) return 5;
  if (value < 0x40000000000) return 6;
  if (value < 0x2000000000000) return 7;
  return 8; // < 2^56 covers every safe integer
}

/** UTF-8 length of a string without encoding it (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8Length(text: string): number {
  let length = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) length += 1;
    else if (code < 0x800) length += 2;
    else if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
      const next = text.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        length += 4;
        index++;
      } else length += 3;
    } else length += 3;
  }
  return length;
}

export class ProtoWriter {
  readonly bytes: Uint8Array;
  pos = 0;

  constructor(sizeBytes: number) {
    this.bytes = new Uint8Array(sizeBytes);
  }

  varint(value: number): void {
    const bytes = this.bytes;
    let pos = this.pos;
    if (value >>> 0 === value) {
      let rest = value;
      while (rest > 0x7f) {
        bytes[pos++] = (rest & 0x7f) | 0x80;
        rest >>>= 7;
      }
      bytes[pos++] = rest;
    } else {
      if (!(value >= 0 && Number.isSafeInteger(value))) {
        throw new Error(`Assertion failed: a varint field holds a non-negative safe integer, got ${value}`);
      }
      let rest = value;
      while (rest > 0x7f) {
        bytes[pos++] = (rest % 0x80) | 0x80;
        rest = Math.floor(rest / 0x80);
      }
      bytes[pos++] = rest;
    }
    this.pos = pos;
  }

  bool(value: boolean): void {
    this.bytes[this.pos++] = value ? 1 : 0;
  }

  /** A length-prefixed bytes field body. */
  lengthDelimited(data: Uint8Array): void {
    this.varint(data.byteLength);
    this.bytes.set(data, this.pos);
    this.pos += data.byteLength;
  }

  /** A length-prefixed string body; `byteLength` is utf8Length(text), already computed for sizing. */
  string(text: string, byteLength: number): void {
    this.varint(byteLength);
    const { written } = utf8Encoder.encodeInto(text, this.bytes.subarray(this.pos, this.pos + byteLength));
    if (written !== byteLength) throw new Error(`Assertion failed: utf8Length matches the encoder: ${written} vs ${byteLength}`);
    this.pos += byteLength;
  }
}

export class ProtoReader {
  readonly bytes: Uint8Array;
  pos: number;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.pos = 0;
  }

  varint(end: number): number {
    const bytes = this.bytes;
    if (this.pos >= end) throw new ProtoDecodeError(`Truncated varint at offset ${this.pos}`);
    let byte = bytes[this.pos++] as number;
    if (byte < 0x80) return byte;
    let result = byte & 0x7f;
    let multiplier = 0x80;
    for (let count = 1; count < varintSizeBytesMax; count++) {
      if (this.pos >= end) throw new ProtoDecodeError(`Truncated varint at offset ${this.pos}`);
      byte = bytes[this.pos++] as number;
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) throw new ProtoDecodeError(`Varint above 2^53 at offset ${this.pos}`);
        return result;
      }
      multiplier *= 0x80;
    }
    throw new ProtoDecodeError(`Varint longer than ${varintSizeBytesMax} bytes at offset ${this.pos}`);
  }

  bool(end: number): boolean {
    return this.varint(end) !== 0;
  }

  /** End offset of a length-delimited field body that starts at the current position. */
  lengthEnd(end: number): number {
    const length = this.varint(end);
    const bodyEnd = this.pos + length;
    if (bodyEnd > end) throw new ProtoDecodeError(`Field of ${length} bytes overruns its message at offset ${this.pos}`);
    return bodyEnd;
  }

  /** A bytes field: a zero-copy view into the input. */
  lengthDelimited(end: number): Uint8Array {
    const bodyEnd = this.lengthEnd(end);
    const data = this.bytes.subarray(this.pos, bodyEnd);
    this.pos = bodyEnd;
    return data;
  }

  string(end: number): string {
    const data = this.lengthDelimited(end);
    try {
      return utf8Decoder.decode(data);
    } catch (cause) {
      throw new ProtoDecodeError(`Invalid UTF-8 in a string field at offset ${this.pos}`, { cause });
    }
  }

  /** Field number and wire type of the next tag. */
  tag(end: number): number {
    const tag = this.varint(end);
    if (tag > 0xffffffff || tag >>> 3 === 0) throw new ProtoDecodeError(`Invalid tag ${tag} at offset ${this.pos}`);
    return tag;
  }

  /** Skips an unknown field (forward compatibility). Groups (wire types 3, 4) are not supported. */
  skip(wireType: number, end: number): void {
    switch (wireType) {
      case wireTypeVarint:
        this.varint(end);
        return;
      case wireTypeFixed64:
        this.advance(8, end);
        return;
      case wireTypeLengthDelimited:
        this.pos = this.lengthEnd(end);
        return;
      case wireTypeFixed32:
        this.advance(4, end);
        return;
      default:
        throw new ProtoDecodeError(`Unsupported wire type ${wireType} at offset ${this.pos}`);
    }
  }

  private advance(count: number, end: number): void {
    if (this.pos + count > end) throw new ProtoDecodeError(`Truncated fixed field at offset ${this.pos}`);
    this.pos += count;
  }
}

/** The wire type a known field arrived with does not match the schema. */
export function wrongWireType(typeName: string, fieldName: string, wireType: number): ProtoDecodeError {
  return new ProtoDecodeError(`${typeName}.${fieldName}: unexpected wire type ${wireType}`);
}
