// RESP reply encoding: the exact bytes of each reply type in RESP2 and RESP3, binary-safe bulks,
// one-line errors, and several replies appended to one buffer.
import { describe, expect, test } from "bun:test";
import { arrayReply, bulkReply, errorReply, integerReply, nullBulkReply, okReply, RespWriter, textMapReply, textReply, type RespProtocol, type RespReply } from "../../../src/router/resp/resp-encoder.ts";

function encode(reply: RespReply, protocol: RespProtocol): string {
  const writer = new RespWriter();
  writer.write(reply, protocol);
  return Buffer.from(writer.take()).toString("latin1");
}

describe("RespWriter", () => {
  test("simple, error, integer and bulk replies are the same in RESP2 and RESP3", () => {
    for (const protocol of [2, 3] as const) {
      expect(encode(okReply, protocol)).toBe("+OK\r\n");
      expect(encode(errorReply("ERR bad"), protocol)).toBe("-ERR bad\r\n");
      expect(encode(integerReply(-42), protocol)).toBe(":-42\r\n");
      expect(encode(bulkReply(new TextEncoder().encode("héllo")), protocol)).toBe("$6\r\nh\xc3\xa9llo\r\n");
      expect(encode(textReply("ü"), protocol)).toBe("$2\r\n\xc3\xbc\r\n");
    }
  });

  test("null is $-1 in RESP2 and _ in RESP3", () => {
    expect(encode(nullBulkReply, 2)).toBe("$-1\r\n");
    expect(encode(nullBulkReply, 3)).toBe("_\r\n");
    expect(encode(arrayReply([bulkReply(null), integerReply(1)]), 2)).toBe("*2\r\n$-1\r\n:1\r\n");
  });

  test("a map is a flat array of pairs in RESP2 and % in RESP3, nested in order", () => {
    const reply = textMapReply([["a", integerReply(1)], ["b", arrayReply([textReply("x")])]]);
    expect(encode(reply, 2)).toBe("*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n*1\r\n$1\r\nx\r\n");
    expect(encode(reply, 3)).toBe("%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n*1\r\n$1\r\nx\r\n");
  });

  test("verbatim text is = with txt: in RESP3, a bulk in RESP2", () => {
    expect(encode({ type: "verbatim", value: "a:1\r\n" }, 3)).toBe("=9\r\ntxt:a:1\r\n\r\n");
    expect(encode({ type: "verbatim", value: "a:1\r\n" }, 2)).toBe("$5\r\na:1\r\n\r\n");
  });

  test("errors and simple strings never carry CR or LF", () => {
    expect(encode(errorReply("ERR line one\r\nline two"), 2)).toBe("-ERR line one line two\r\n");
  });

  test("bulks are binary safe and replies append until take", () => {
    const all = Uint8Array.from({ length: 256 }, (_, index) => index);
    const writer = new RespWriter();
    writer.write(bulkReply(all), 2);
    writer.write(okReply, 2);
    const out = writer.take();
    expect(out.byteLength).toBe(6 + 256 + 2 + 5);
    expect([...out.subarray(6, 6 + 256)]).toEqual([...all]);
    expect(writer.sizeBytes).toBe(0);
  });

  test("a reply larger than the initial buffer grows it", () => {
    const big = new Uint8Array(100_000).fill(7);
    expect(encode(bulkReply(big), 2).length).toBe("$100000\r\n".length + 100_000 + 2);
  });
});
