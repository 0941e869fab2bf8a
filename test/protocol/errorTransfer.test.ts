// Errors thrown across a real Comlink channel (a MessageChannel in this thread) keep their code and
// cause once installErrorTransfer() replaced Comlink's "throw" handler.
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { expose, releaseProxy, wrap, type Remote } from "comlink";
import { InvalidArgumentError, reviveError, StateMismatchError } from "../../src/index.js";
import { installErrorTransfer } from "../../src/protocol/transport/errorTransfer.js";
import { nodeEndpoint } from "../../src/protocol/transport/nodeEndpoint.js";

/** Throws whatever it is given. */
const thrower = {
  throw(make: string): void {
    throw throwables[make]!();
  },
};
const throwables: Record<string, () => unknown> = {
  chain: () =>
    new StateMismatchError("outer", {
      cause: new InvalidArgumentError("middle", { cause: Object.assign(new Error("disk"), { code: "EIO" }) }),
    }),
  valueCause: () => new InvalidArgumentError("x", { cause: { limit: 3, path: ["a", "b"] } }),
  functionCause: () => new InvalidArgumentError("x", { cause: () => 1 }),
  loop: () => {
    const error = new InvalidArgumentError("loop");
    (error as { cause?: unknown }).cause = error;
    return error;
  },
  notAnError: () => "a string",
};

let ports: MessagePort[];
let remote: Remote<typeof thrower>;
beforeAll(() => {
  installErrorTransfer();
  const channel = new MessageChannel();
  ports = [channel.port1, channel.port2];
  expose(thrower, nodeEndpoint(channel.port1));
  remote = wrap<typeof thrower>(nodeEndpoint(channel.port2));
});
afterAll(() => {
  remote[releaseProxy]();
  for (const port of ports) port.close();
});

async function thrown(make: string): Promise<unknown> {
  return remote.throw(make).then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe("errors over a Comlink channel", () => {
  test("arrive as plain Errors with name, message, stack, code and the whole cause chain; reviveError gives their classes", async () => {
    const arrived = (await thrown("chain")) as Error;
    expect(arrived).not.toBeInstanceOf(StateMismatchError);
    expect(arrived).toMatchObject({ name: "StateMismatchError", message: "outer", code: "LLAMA_SCOPE_ERR_STATE_MISMATCH" });
    expect(arrived.stack).toContain("errorTransfer.test");
    const revived = reviveError(arrived) as StateMismatchError;
    expect(revived).toBeInstanceOf(StateMismatchError);
    const middle = revived.cause as InvalidArgumentError;
    expect(middle).toBeInstanceOf(InvalidArgumentError);
    expect(middle.message).toBe("middle");
    expect(middle.cause).toMatchObject({ name: "Error", message: "disk", code: "EIO" });
  });

  test("a cause that is a value arrives as a copy; one that cannot be cloned, as its text", async () => {
    expect(((await thrown("valueCause")) as Error).cause).toEqual({ limit: 3, path: ["a", "b"] });
    expect(((await thrown("functionCause")) as Error).cause).toBe("() => 1");
  });

  test("an error that is its own cause arrives, its chain cut", async () => {
    let error = (await thrown("loop")) as Error;
    let depth = 0;
    while (error.cause instanceof Error) {
      error = error.cause;
      depth++;
    }
    expect(depth).toBeGreaterThan(0);
    expect(depth).toBeLessThan(100);
  });

  test("a thrown non-error arrives as it was", async () => {
    expect(await thrown("notAnError")).toBe("a string");
  });
});
