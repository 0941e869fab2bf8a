/** How a conversation was copied (`Llama.forkSlot`): inside llama.cpp, or through a saved state. */
export type SlotCopy = "kv" | "state";
