import type { LlamaParent } from "../../index.js";

/**
 * Scopes a context shift has touched, from the parent's events. A shifted chat scope holds its
 * later exchanges with cells computed beside the ones it erased, so it would not answer a request
 * that sends only those later exchanges as a new scope would: such scopes are never reused for a
 * request without a session.
 */
export class ScopeShifts {
  private readonly shifted = new Set<string>();
  private readonly listeners = {
    shifted: (scopeId: string) => this.shifted.add(scopeId),
    disposed: (scopeId: string) => this.shifted.delete(scopeId),
  };

  constructor(private readonly parent: LlamaParent) {
    parent.on("scopeShifted", this.listeners.shifted);
    parent.on("scopeDisposed", this.listeners.disposed);
  }

  has(scopeId: string): boolean {
    return this.shifted.has(scopeId);
  }

  /** Stops listening to the parent, which may outlive the server. */
  detach(): void {
    this.parent.off("scopeShifted", this.listeners.shifted);
    this.parent.off("scopeDisposed", this.listeners.disposed);
  }
}
