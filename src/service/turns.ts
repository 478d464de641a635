/**
 * Large payloads take turns with everything else. Parsing, serializing,
 * compressing or sending a megabyte takes the event loop a few milliseconds
 * each time; when several arrive at once (their sockets ready in the same
 * poll, a counting thread's answers delivered together, claims committed
 * together) they would run back to back and hold up every other client for
 * tens of milliseconds. Each waits here for its own turn: one after another,
 * one per event-loop iteration, with I/O polled in between.
 */
export class Turns {
  #tail: Promise<void> = Promise.resolve();

  /** Resolves in an event-loop iteration of its own, after the turns asked for before it. */
  next(): Promise<void> {
    const turn = this.#tail.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
    this.#tail = turn;
    return turn;
  }
}

/** Payloads at least this large take turns. */
export const LARGE_PAYLOAD_BYTES = 64 * 1024;

/** The turns of this process (one event loop, so one line). */
export const largeWork = new Turns();
