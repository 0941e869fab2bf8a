import type { ModelReady } from "../../protocol/index.js";
import { InvalidArgumentError } from "../../shared/errors/index.js";
import { ConversationStore, type ConversationHost } from "./ConversationStore.js";
import type { ConversationStorePolicy } from "./ConversationStoreOptions.js";
import type { RedisConnection } from "./redisConnection.js";

/**
 * The parent's conversation store, once the model is loaded: its identity and KV layout are what
 * the chunks are keyed and cut by.
 * @throws {InvalidArgumentError} for a model whose KV layout llama-scope cannot cut into chunks.
 */
export function openConversationStore(
  policy: ConversationStorePolicy,
  connection: RedisConnection,
  info: ModelReady,
  parent: Pick<ConversationHost, "stateKey" | "sharedStates" | "scopeFrom">,
): ConversationStore {
  const layout = info.stateLimits.kv;
  if (layout === undefined)
    throw new InvalidArgumentError(
      `This model's KV cache has a layout llama-scope cannot cut into chunks (${info.modelName}), so it cannot use a conversation store. Load without store.`,
    );
  return new ConversationStore(
    { identity: info.stateIdentity, layout, contextSize: info.stateLimits.contextSize, ...parent },
    connection,
    policy,
  );
}
