// host:port parsing shared by config validation and the node runtime, and the collision rule.
import { expect, test } from "bun:test";
import { addressCollisionKey, addressesCollide, isWildcardAddress, parseAddress, type HostPort } from "../../../src/config/address.ts";

test("IPv4, DNS names and bracketed IPv6 with a port in 1..65535 parse", () => {
  expect(parseAddress("127.0.0.1:7101")).toEqual({ host: "127.0.0.1", port: 7101 });
  expect(parseAddress("node-5.example.com:1")).toEqual({ host: "node-5.example.com", port: 1 });
  expect(parseAddress("[::1]:65535")).toEqual({ host: "[::1]", port: 65535 });
  expect(parseAddress("localhost:80")).toEqual({ host: "localhost", port: 80 });
});

test("a missing port, a port out of range, a bare IPv6 or spaces are refused with a reason", () => {
  for (const text of ["127.0.0.1", "127.0.0.1:", ":7101", "::1:7101", "host name:1", "host:port", "host:123456", "-host:1"]) {
    const parsed = parseAddress(text);
    expect("reason" in parsed ? parsed.reason : "parsed").toContain("expected host:port");
  }
  expect(parseAddress("h:0")).toEqual({ reason: 'port must be in 1..65535, got 0 in "h:0"' });
  expect(parseAddress("h:65536")).toEqual({ reason: 'port must be in 1..65535, got 65536 in "h:65536"' });
});

test("addresses collide on the same host and port; localhost is 127.0.0.1; host case does not matter", () => {
  const key = (text: string): string => {
    const parsed = parseAddress(text);
    if ("reason" in parsed) throw new Error(parsed.reason);
    return addressCollisionKey(parsed);
  };
  expect(key("localhost:7101")).toBe(key("127.0.0.1:7101"));
  expect(key("Node-A:7101")).toBe(key("node-a:7101"));
  expect(key("127.0.0.1:7101")).not.toBe(key("127.0.0.2:7101"));
  expect(key("127.0.0.1:7101")).not.toBe(key("127.0.0.1:7102"));
});

function parsed(text: string): HostPort {
  const result = parseAddress(text);
  if ("reason" in result) throw new Error(result.reason);
  return result;
}

test("0.0.0.0 and [::] (in any zero spelling) bind every interface; other addresses do not", () => {
  for (const text of ["0.0.0.0:1", "[::]:1", "[0::0]:1", "[0:0:0:0:0:0:0:0]:1"]) expect(isWildcardAddress(parsed(text))).toBe(true);
  for (const text of ["127.0.0.1:1", "[::1]:1", "0.0.0.1:1", "zero:1"]) expect(isWildcardAddress(parsed(text))).toBe(false);
});

test("a wildcard collides with every address of its port, and with nothing of another port", () => {
  expect(addressesCollide(parsed("0.0.0.0:7100"), parsed("10.0.0.1:7100"))).toBe(true);
  expect(addressesCollide(parsed("store-1:7100"), parsed("[::]:7100"))).toBe(true);
  expect(addressesCollide(parsed("0.0.0.0:7100"), parsed("[::]:7100"))).toBe(true);
  expect(addressesCollide(parsed("0.0.0.0:7100"), parsed("0.0.0.0:7101"))).toBe(false);
  expect(addressesCollide(parsed("localhost:7100"), parsed("127.0.0.1:7100"))).toBe(true);
  expect(addressesCollide(parsed("10.0.0.1:7100"), parsed("10.0.0.2:7100"))).toBe(false);
});
