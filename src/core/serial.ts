/**
 * Runs tasks one at a time, in the order they were given: a mutex for async
 * code. A task's failure is its caller's; the next task runs regardless.
 */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task, task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
