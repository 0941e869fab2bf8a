import type { GenerateOptions, Llama } from "../../src/index.js";

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
