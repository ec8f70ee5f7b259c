/**
 * Conditions worth one log line when they begin and one when they end, not
 * one per check: "lag above the limit" is an episode, however many batches
 * it lasts.
 */
export class Episodes {
  private readonly active = new Set<string>();

  /** Calls `onStart` when `key` becomes true, `onEnd` when it stops being true; nothing while it stays the same. */
  update(key: string, now: boolean, onStart: () => void, onEnd?: () => void): void {
    const was = this.active.has(key);
    if (now && !was) {
      this.active.add(key);
      onStart();
    } else if (!now && was) {
      this.active.delete(key);
      onEnd?.();
    }
  }
}
