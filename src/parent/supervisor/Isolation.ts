/** Where a `LlamaParent` runs its engine. */
export type Isolation = "thread" | "process";
