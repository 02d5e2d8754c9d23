// STYLE.md's import arrows and the purity of raft/ and ring/, checked on the real source tree.
import { expect, test } from "bun:test";
import { checkImports } from "../../scripts/check-imports.ts";

test("src/ folders import only what their layer allows, and raft/ stays pure", () => {
  expect(checkImports()).toEqual([]);
});
