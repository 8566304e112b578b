/**
 * Wakes the delivery worker. notify() defers to the next turn of the event loop, so calling it inside a
 * transaction is safe: by the time the worker looks, the transaction has committed or rolled back.
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
}
