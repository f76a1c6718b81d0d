/**
 * A bounded map of answers that lapse: the oldest entry goes first when it is full (a Lambda container sees a few
 * callers; a burst of distinct ones only costs extra introspection calls, never a wrong answer).
 */
export class ExpiringCache<V> {
  private readonly entries = new Map<string, { readonly value: V; readonly until: number }>();

  constructor(private readonly maxEntries: number) {}

  public get(key: string, nowMs: number): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until > nowMs) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  /** Keeps `value` until `until` (epoch ms). */
  public set(key: string, value: V, until: number): void {
    if (this.maxEntries <= 0) return;
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, { value, until });
  }
}
