/**
 * Lifecycle: everything that holds a resource (socket, timer, watch, worker) is registered with a
 * DisposableStore the moment it is created, so shutdown is a single `dispose()` in reverse order.
 */
export interface Disposable { dispose(): void | Promise<void> }

export class DisposableStore implements Disposable {
  private items: Disposable[] = [];
  private disposed = false;

  add<T extends Disposable>(item: T): T {
    if (this.disposed) {
      void item.dispose();
      return item;
    }
    this.items.push(item);
    return item;
  }

  /** Register a timer created by setInterval/setTimeout. */
  addTimer(timer: NodeJS.Timeout): NodeJS.Timeout {
    this.add({ dispose: () => clearInterval(timer) });
    return timer;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const items = this.items.reverse();
    this.items = [];
    for (const item of items) {
      try {
        await item.dispose();
      } catch {
        // Disposal continues: one failing resource must not keep the others open.
      }
    }
  }
}

export function toDisposable(fn: () => void | Promise<void>): Disposable {
  return { dispose: fn };
}
