/**
 * Wakes the delivery worker. notify() defers to the next turn of the event loop, so calling it inside a
 * transaction is safe on SQLite, whose group commits before that turn. On PostgreSQL a transaction commits
 * over the network, later: there inTransaction (context.ts) hands the transaction a `held()` signal, whose
 * notify() is passed on only by `release()`, after COMMIT (and never after a rollback).
 */
export class DeliverySignal {
  private listeners = new Set<() => void>();
  private scheduled = false;

  notify(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const listener of this.listeners) listener();
    });
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A signal for one transaction: notify() is remembered, and passed on to this one by `release()`. */
  held(): HeldSignal {
    return new HeldSignal(this);
  }
}

/** DeliverySignal.held(): notifies its parent on `release()` if notify() was called meanwhile. */
export class HeldSignal extends DeliverySignal {
  private owed = false;

  constructor(private readonly parent: DeliverySignal) {
    super();
  }

  override notify(): void {
    this.owed = true;
  }

  override subscribe(listener: () => void): () => void {
    return this.parent.subscribe(listener);
  }

  /** Call after COMMIT: wakes the parent's listeners if anything in the transaction asked to. */
  release(): void {
    if (this.owed) this.parent.notify();
    this.owed = false;
  }
}
