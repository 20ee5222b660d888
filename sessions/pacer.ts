// Paces connection set-ups per guacd: guacd 1.3 hangs some children when many connections start
// at once (LAB.md), so each guacd gets at most one new connection per `spacingMs`.
import { setTimeout as delay } from 'node:timers/promises';

export class Pacer {
  private readonly spacingMs: number;
  private readonly nextSlot = new Map<string, number>();

  constructor(spacingMs: number) {
    this.spacingMs = spacingMs;
  }

  /** Resolves when the caller may start a connection on `guacd`. */
  async slot(guacd: string): Promise<void> {
    const now = Date.now();
    const at = Math.max(now, this.nextSlot.get(guacd) ?? 0);
    this.nextSlot.set(guacd, at + this.spacingMs);
    if (at > now) await delay(at - now);
  }
}
