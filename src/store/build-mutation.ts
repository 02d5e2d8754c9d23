// TEST ONLY: the build-time mutation switch (issue 19). `bun build --compile --define
// UKV_BUILD_MUTATION='"unsafe-commit"'` makes a deliberately broken `ukv` whose every data-shard
// replica runs with that test-only flag (the metadata group stays correct), so the chaos harness's
// checkers can be seen to fail against a real node (test/chaos/broken-node.test.ts). The constant
// is never defined in `npm run build:bin`: `typeof` of an undeclared global is "undefined", so the
// switch is "" and every GroupRuntime gets no test-only options, exactly as before. No environment
// variable or flag can turn it on.
import type { ReplicaTestOnlyOptions } from "../node/group-runtime.ts";

declare const UKV_BUILD_MUTATION: string | undefined;

/**
 * The mutations a short chaos run (3 stores, 30 s of pauses) catches end to end. ReadIndex without
 * quorum is not one: CheckQuorum makes it a lease read, not caught by the 30 s run tried.
 */
export const buildMutationNames = ["unsafe-commit"] as const;
export type BuildMutation = (typeof buildMutationNames)[number];

const buildMutationOptions: Readonly<Record<BuildMutation, ReplicaTestOnlyOptions>> = {
  // The leader commits its own entries without a quorum: a leader paused past an election commits
  // and acknowledges alone, and the next leader's log replaces those writes on the other replicas
  // (the chaos checkers: divergence, or lost-write).
  "unsafe-commit": { raft: { testOnlyUnsafeCommit: true } },
};

/** The mutation this binary was built with: "" in every normal build. */
export const buildMutation: string = typeof UKV_BUILD_MUTATION === "string" ? UKV_BUILD_MUTATION : "";

/** The test-only options every replica of this binary gets: undefined unless built as a mutant. */
export function buildMutationTestOnly(): ReplicaTestOnlyOptions | undefined {
  if (buildMutation === "") return undefined;
  // A misspelt name must not build a binary that silently behaves correctly.
  if (!(buildMutationNames as readonly string[]).includes(buildMutation)) {
    throw new Error(`Unknown UKV_BUILD_MUTATION: ${buildMutation}: expected one of ${buildMutationNames.join(",")}`);
  }
  return buildMutationOptions[buildMutation as BuildMutation];
}
