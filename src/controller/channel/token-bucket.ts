/** Admission control: a token bucket (capacity = burst, refilled at `ratePerSec`). */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly ratePerSec: number, private readonly burst: number, private readonly clock: () => number = Date.now) {
    this.tokens = burst;
    this.last = clock();
  }

  /** Takes one token; returns 0 when admitted, else the seconds to wait before a retry (≥ 1). */
  take(): number {
    const now = this.clock();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSec);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - this.tokens) / this.ratePerSec));
  }
}
