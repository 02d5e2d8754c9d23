// The simulator's virtual clock. Time is a count of ticks, advanced only by the runner, so a run
// never reads the wall clock and a seed replays exactly. One tick is one call of RawNode.tick().

export class VirtualClock {
  #nowTicks = 0;

  get nowTicks(): number {
    return this.#nowTicks;
  }

  /** Moves time forward by one tick and returns the new time. */
  advance(): number {
    this.#nowTicks += 1;
    return this.#nowTicks;
  }
}
