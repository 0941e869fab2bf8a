import { LlamaText, type ChatWrapper } from "node-llama-cpp";

/**
 * A function call in the chat wrapper's own syntax (`settings.functions.call`): prefix, name,
 * params prefix, `args`, suffix. Cut before the name or the arguments, it ends with `args`
 * there (a marker where the model's tokens go).
 */
export function callText(wrapper: ChatWrapper, name: string, args: string, cut: "name" | "arguments" | undefined): LlamaText {
  const { call } = wrapper.settings.functions;
  const named = (text: string | LlamaText) =>
    LlamaText(text).mapValues((value) => (typeof value === "string" ? value.replaceAll("{{functionName}}", name) : value));
  if (cut === "name") return LlamaText([call.prefix, args]);
  if (cut === "arguments") return LlamaText([call.prefix, name, named(call.paramsPrefix), args]);
  return LlamaText([call.prefix, name, named(call.paramsPrefix), args, named(call.suffix)]);
}

/** A call's whole text with its arguments as written (the history's `rawCall`); without `complete`, no suffix (arguments cut short). */
export function callTextOf(wrapper: ChatWrapper, name: string, rawArguments: string, complete = true): LlamaText {
  return callText(wrapper, name, rawArguments, complete ? undefined : "arguments");
}
