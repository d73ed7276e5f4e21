// Owns undo/redo as a stack of document snapshots; edits of one widget in quick succession merge into one step.

export class UndoHistory<T> {
  readonly #past: string[] = [];
  readonly #future: string[] = [];
  #present: string;
  #lastKey: string | undefined;
  #lastAt = 0;

  constructor(
    initial: T,
    readonly limit = 200,
    readonly mergeMs = 1000,
  ) {
    this.#present = JSON.stringify(initial);
  }

  /**
   * Records the state after an edit. An edit with the same `key` as the previous one within
   * `mergeMs` (typing in one field, dragging one node) replaces it instead of adding a step.
   * @returns whether the state changed
   */
  record(state: T, key?: string, now = Date.now()): boolean {
    const text = JSON.stringify(state);
    if (text === this.#present) return false;
    const merge = key !== undefined && key === this.#lastKey && now - this.#lastAt < this.mergeMs && this.#past.length > 0;
    if (!merge) {
      this.#past.push(this.#present);
      if (this.#past.length > this.limit) this.#past.shift();
    }
    this.#present = text;
    this.#future.length = 0;
    this.#lastKey = key;
    this.#lastAt = now;
    return true;
  }

  /** Forgets every step (a new document was opened). */
  reset(state: T): void {
    this.#past.length = 0;
    this.#future.length = 0;
    this.#present = JSON.stringify(state);
    this.#lastKey = undefined;
  }

  get canUndo(): boolean {
    return this.#past.length > 0;
  }

  get canRedo(): boolean {
    return this.#future.length > 0;
  }

  undo(): T | undefined {
    const prev = this.#past.pop();
    if (prev === undefined) return undefined;
    this.#future.push(this.#present);
    this.#present = prev;
    this.#lastKey = undefined;
    return JSON.parse(prev) as T;
  }

  redo(): T | undefined {
    const next = this.#future.pop();
    if (next === undefined) return undefined;
    this.#past.push(this.#present);
    this.#present = next;
    this.#lastKey = undefined;
    return JSON.parse(next) as T;
  }
}
