// Waiting for a child process to say it is ready, for the benchmark scripts and their tests.
import type { Subprocess } from "bun";

/** A child's stdout up to `marker` (the rest is drained, so the child never blocks on a full pipe). */
export async function readUntil(child: Subprocess, marker: string, name: string): Promise<string> {
  const reader = (child.stdout as ReadableStream<Uint8Array>).getReader();
  let output = "";
  while (!output.includes(marker)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`${name} ended before "${marker}":\n${output}`);
    output += new TextDecoder().decode(value);
  }
  void reader.read().then(function drain(result): unknown {
    return result.done ? null : reader.read().then(drain);
  });
  return output;
}
