/**
 * The names of the `node:diagnostics_channel` channels the engine publishes diagnostic records
 * on, for tests and measurements (docs/api.md, "Observing steps and batches"). A record is built
 * only while a channel has subscribers, so an unobserved engine pays one property read per step
 * or batch. Channels are per thread: a subscriber sees the engines of its own thread.
 */

/** Every step a lock-step barrier releases: a `StepRecord` (src/engine/StepBarrier.ts). */
export const STEP_CHANNEL = "llama-scope:lockstep:step";

/** Every batch the sequence-order batch strategy forms: a `BatchRecord` (src/engine/batchOrder.ts). */
export const BATCH_CHANNEL = "llama-scope:batch";
