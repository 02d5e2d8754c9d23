// Wakes requests that wait for a shard's leader. After an election the store's own replica hears
// of the new leader within a heartbeat; a request that found no leader would otherwise sleep out
// its whole retry backoff (up to a tick) before trying the new one (issue 20's failover target:
// the router reaches a new leader within 50 ms of its election).

export class LeaderSignal {
  readonly #waiters = new Map<number, Set<() => void>>();

  /** The replica of `groupId` on this store learned of a (new) leader. */
  notify(groupId: number): void {
    const waiters = this.#waiters.get(groupId);
    if (waiters === undefined) return;
    this.#waiters.delete(groupId);
    for (const wake of waiters) wake();
  }

  /** Resolves at the next notify(groupId), or after timeoutMs, whichever is first. */
  wait(groupId: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      let waiters = this.#waiters.get(groupId);
      if (waiters === undefined) {
        waiters = new Set();
        this.#waiters.set(groupId, waiters);
      }
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const current = this.#waiters.get(groupId);
        current?.delete(wake);
        if (current?.size === 0) this.#waiters.delete(groupId);
        resolve();
      }, timeoutMs);
      waiters.add(wake);
    });
  }
}
