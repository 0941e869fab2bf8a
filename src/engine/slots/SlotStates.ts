import type { LlamaContextSequence, Token } from "node-llama-cpp";
import { StateMismatchError } from "../../shared/errors/index.js";
import type { Slot } from "./Slot.js";
import { StateFiles } from "./StateFiles.js";

/** A slot's conversation as llama.cpp saves it: its KV state file, and the tokens not evaluated yet. */
export interface SlotSnapshot {
  kv: Uint8Array;
  pending: readonly Token[];
}

/**
 * Moves slots' KV caches in and out of llama.cpp. node-llama-cpp saves and loads sequence
 * states only through files, so every move passes through a short-lived file (see StateFiles).
 */
export class SlotStates {
  private readonly files: StateFiles;

  constructor(
    stateDir: string | undefined,
    /** Runs before llama.cpp reads or writes a sequence's state (copies not made yet are made first: see PendingCopies). */
    private readonly beforeAccess: (sequence: LlamaContextSequence) => Promise<void> = async () => {},
  ) {
    this.files = new StateFiles(stateDir);
  }

  /** A sequence's state file, as llama.cpp writes it. */
  async save(sequence: LlamaContextSequence): Promise<Uint8Array> {
    await this.beforeAccess(sequence);
    return this.files.capture((file) => sequence.saveStateToFile(file));
  }

  snapshot(slot: Slot): Promise<SlotSnapshot> {
    return this.save(slot.sequence).then((kv) => ({ kv, pending: slot.pendingTokens }));
  }

  /** Replaces the slot's KV cache with a state file's (already checked: see `assertStateFits`), whole or in parts. */
  async loadKv(slot: Slot, kv: Uint8Array | readonly Uint8Array[]): Promise<void> {
    await this.beforeAccess(slot.sequence);
    // llama.cpp replaces a sequence's cells with a state's only when the state has some: a state
    // of no cells (an empty slot's) would leave the old ones, unseen by node-llama-cpp's tokens.
    if (slot.sequence.nextTokenIndex > 0) await slot.sequence.clearHistory();
    return this.files.provide(kv, (file) => slot.sequence.loadStateFromFile(file, { acceptRisk: true }));
  }

  /**
   * Replaces the slot's conversation; if llama.cpp refuses the state, the previous conversation is
   * put back (llama.cpp clears the sequence when a load fails) and `StateMismatchError` thrown.
   */
  async restore(slot: Slot, kv: Uint8Array | readonly Uint8Array[], pending: readonly Token[]): Promise<void> {
    const backup = slot.tokens.length > 0 ? await this.snapshot(slot) : undefined;
    try {
      await this.loadKv(slot, kv);
      slot.pendingTokens = pending;
    } catch (error) {
      if (backup === undefined) await slot.sequence.clearHistory();
      else {
        await this.loadKv(slot, backup.kv);
        slot.pendingTokens = backup.pending;
      }
      const why = error instanceof Error ? error.message : String(error);
      throw new StateMismatchError(
        `llama.cpp refused this state (${why}); the slot is unchanged. Load it into a Llama with the same model and settings.`,
        { cause: error },
      );
    }
  }

  /** Removes the private directory of the short-lived files. */
  dispose(): Promise<void> {
    return this.files.dispose();
  }
}
