/**
 * Watches a reply for stop strings as it grows. Text that could be the start of a stop string is
 * held back until it is known not to be, so no caller ever sees part of a stop string.
 */
export class StopMatcher {
  private text = "";
  private emitted = 0;
  private stopIndex: number | undefined;

  constructor(private readonly stops: readonly string[]) {}

  /** Appends decoded text; returns the text that is now safe to hand to the caller. */
  push(chunk: string): string {
    if (this.stopIndex !== undefined) return "";
    this.text += chunk;
    const found = this.findStop();
    if (found !== undefined) {
      this.stopIndex = found;
      return this.emitUpTo(found);
    }
    return this.emitUpTo(this.text.length - this.possibleStopPrefixLength());
  }

  /** Releases text held back as a possible stop prefix (call when generation ends without a stop). */
  flush(): string {
    return this.stopIndex === undefined ? this.emitUpTo(this.text.length) : "";
  }

  /** Where the reply ends: the index of the matched stop string, or undefined while none matched. */
  get stoppedAt(): number | undefined {
    return this.stopIndex;
  }

  /** The stop string that ended the reply (the first one given, of those that start where it ends). */
  get matched(): string | undefined {
    const at = this.stopIndex;
    return at === undefined ? undefined : this.stops.find((stop) => this.text.startsWith(stop, at));
  }

  /** The reply: all text before the stop string, or everything decoded when none matched. */
  get reply(): string {
    return this.text.slice(0, this.stopIndex ?? this.text.length);
  }

  private emitUpTo(end: number): string {
    const out = this.text.slice(this.emitted, end);
    this.emitted = end;
    return out;
  }

  // A stop can only start in text not yet emitted: emitted text never ends inside a stop's prefix.
  private findStop(): number | undefined {
    let first: number | undefined;
    for (const stop of this.stops) {
      const index = this.text.indexOf(stop, this.emitted);
      if (index >= 0 && (first === undefined || index < first)) first = index;
    }
    return first;
  }

  private possibleStopPrefixLength(): number {
    let longest = 0;
    for (const stop of this.stops) {
      const limit = Math.min(stop.length - 1, this.text.length - this.emitted);
      for (let length = limit; length > longest; length--) {
        if (this.text.endsWith(stop.slice(0, length))) {
          longest = length;
          break;
        }
      }
    }
    return longest;
  }
}
