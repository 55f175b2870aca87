/**
 * Runs async tasks one at a time per key (a tenant): read-modify-write changes to one
 * tenant's registry must not interleave inside this process. Keys are dropped when idle.
 */
export class KeyedSerialiser {
  readonly #locks = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(key, tail);
    void tail.then(() => {
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    });
    return run;
  }
}
