import { Llama, type GenerateOptions } from "../../src/index.js";
import { seededRandom } from "./randomText.js";
import { testLoadOptions } from "./testModel.js";

/** A conversation for equivalence tests: the prompts of its turns, in order. */
export interface Conversation {
  id: string;
  turns: string[];
}

export const CONVERSATIONS: Conversation[] = [
  { id: "alice", turns: ["Once upon a time, Alice", "\nAlice said,", "\nThe next day"] },
  { id: "bob", turns: ["Bob had a big red ball.", "\nHe", "\nThen"] },
  { id: "cat", turns: ["The cat sat on the mat.", "\nOne day the cat", "\nThe end. Once"] },
  { id: "tom", turns: ["Tom and Sue went to the park", "\nSue saw", "\nTom"] },
];

const NAMES = ["Lily", "Ben", "Mia", "Max", "Sam", "Zoe", "Tim", "Amy", "Leo", "Eva", "Jack", "Anna", "Finn", "Lucy", "Noah", "Ella"];

/** `count` distinct three-turn conversations (up to 16), for tests with many scopes. */
export function manyConversations(count: number): Conversation[] {
  return NAMES.slice(0, count).map((name, i) => ({
    id: name.toLowerCase(),
    turns: [`${i % 2 === 0 ? "Once upon a time" : "One day"}, ${name}`, `\n${name} said,`, `\nThe next day, ${name}`],
  }));
}

/** A deterministic shuffle, so a failing order can be replayed from its seed. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export const TURN_OPTIONS: GenerateOptions = { maxTokens: 32, temperature: 0 };

/** Runs one turn of `conversation` on its slot (creating the slot on the first turn). */
export async function runTurn(llama: Llama, conversation: Conversation, turn: number, options = TURN_OPTIONS): Promise<string> {
  if (!llama.slots.includes(conversation.id)) llama.createSlot(conversation.id);
  llama.setSlot(conversation.id);
  llama.setPrompt(conversation.turns[turn] ?? "");
  return llama.generateCompleteText(options);
}

/** The replies of every turn of `conversation`, run alone on `llama`. */
export async function runAlone(llama: Llama, conversation: Conversation, options = TURN_OPTIONS): Promise<string[]> {
  const replies: string[] = [];
  for (let turn = 0; turn < conversation.turns.length; turn++) replies.push(await runTurn(llama, conversation, turn, options));
  return replies;
}

/**
 * The reference for equivalence tests: each conversation's replies, every turn, run alone in one
 * slot of a fresh direct engine on the test model (freed between conversations).
 */
export async function soloReplies(conversations: readonly Conversation[], options = TURN_OPTIONS): Promise<Map<string, string[]>> {
  const llama = await Llama.load(testLoadOptions({ slots: 1 }));
  try {
    const solo = new Map<string, string[]>();
    for (const conversation of conversations) {
      solo.set(conversation.id, await runAlone(llama, conversation, options));
      await llama.freeSlot(conversation.id);
    }
    return solo;
  } finally {
    await llama.dispose();
  }
}
