// Many chat scopes on few slots, driven at once (issue 18, cases 5 and 6): in either isolation no
// call fails, no conversation changes while it is idle, and each holds exactly its own turns.
// Before slot handles, the worker's shared "current slot" sent a chat turn that had awaited its
// render to whichever slot another call had made current: in process isolation, turns failed with
// SlotNotFoundError ("was freed while this call waited or ran") and landed in other conversations.
import { expect, test } from "@jest/globals";
import type { ChatHistoryItem, LlamaScope } from "../../src/index.js";
import { startParent } from "../support/parents.js";
import { randomWords, seededRandom } from "../support/randomText.js";

const SECONDS = 12;

test(`12 chat scopes on 3 slots, 5 loops of short turns for ${SECONDS} s: no error, no change while idle, no turn in another's conversation (cases 5, 6)`, async () => {
  const parent = await startParent({ slots: 3, contextSize: 256 });
  try {
    const scopes = Array.from({ length: 12 }, (_, i) => parent.getScope({ mode: "chat", systemPrompt: randomWords(seededRandom(i), 10) }));
    /** Per scope: the turns sent to it, and what it was after its last call. */
    const sent = new Map<LlamaScope, string[]>(scopes.map((scope) => [scope, []]));
    const after = new Map<LlamaScope, { tokens: number; history: ChatHistoryItem[] }>();
    const busy = new Set<LlamaScope>();
    const problems: string[] = [];
    let turns = 0;
    const end = Date.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: 5 }, async (_, loop) => {
        const random = seededRandom(100 + loop);
        while (Date.now() < end) {
          const scope = scopes[Math.floor(random() * scopes.length)]!;
          if (busy.has(scope)) {
            await new Promise((resolve) => setImmediate(resolve));
            continue;
          }
          busy.add(scope);
          try {
            const before = after.get(scope);
            if (before !== undefined) {
              const now = { tokens: await scope.tokenCount(), history: await scope.getChatHistory() };
              if (JSON.stringify(now) !== JSON.stringify(before))
                problems.push(`${scope.id} changed while idle: ${before.tokens} → ${now.tokens} tokens`);
            }
            const text = `${loop}:${turns} ${randomWords(random, 3)}`;
            sent.get(scope)!.push(text);
            await scope.sendPrompt(text, { maxTokens: 3 + Math.floor(random() * 10) });
            turns++;
            after.set(scope, { tokens: await scope.tokenCount(), history: await scope.getChatHistory() });
          } catch (error) {
            problems.push(`${scope.id}: ${(error as Error).name}: ${(error as Error).message}`);
            after.delete(scope);
          } finally {
            busy.delete(scope);
          }
        }
      }),
    );
    expect(problems).toEqual([]);
    expect(turns).toBeGreaterThan(50);
    for (const scope of scopes) {
      // What the scope holds is its own newest turns, in order (the oldest may have been shifted out).
      const users = (await scope.getChatHistory()).filter((item) => item.type === "user").map((item) => item.text);
      const own = sent.get(scope)!;
      expect(own.slice(own.length - users.length)).toEqual(users);
    }
  } finally {
    await parent.dispose();
  }
});
