// Work deferred to the end of the current event-loop turn: every connection's output and every
// protocol's batch (the Raft transport's frame per peer, the client's and server's request and
// answer frames, RESP replies) is produced there, after all the input of the turn was handled.
// One setImmediate per turn for the whole process; tasks queued while the queue runs (a protocol
// batch writing to a connection, which then flushes) run in the same pass, so encoding and the
// socket write happen in one turn, never one turn apart.

let tasks: (() => void)[] = [];
let scheduled = false;

/** Runs `task` once, at the end of this event-loop turn, after the tasks queued before it. */
export function atTurnEnd(task: () => void): void {
  tasks.push(task);
  if (!scheduled) {
    scheduled = true;
    setImmediate(runTurnEnd);
  }
}

function runTurnEnd(): void {
  let firstError: unknown = null;
  // `scheduled` stays true meanwhile: tasks queued by a task land in the new `tasks`, run here.
  while (tasks.length > 0) {
    const running = tasks;
    tasks = [];
    for (const task of running) {
      try {
        task();
      } catch (error) {
        // The others still run (a connection's write must not be lost to another's bug).
        firstError ??= error;
      }
    }
  }
  scheduled = false;
  if (firstError !== null) throw firstError;
}
