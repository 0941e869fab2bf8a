import { describe, expect, test } from "@jest/globals";
import * as errors from "../../src/shared/errors/errors.js";
import { CliUsageError } from "../../src/cli/CliUsageError.js";
import { InvalidArgumentError, LlamaScopeError, reviveError, StateMismatchError } from "../../src/index.js";

/** An error as it arrives from the engine: a plain Error with the sent name, message, stack, code and cause. */
function arrived(name: string, message: string, fields: { stack?: string; code?: string; cause?: unknown } = {}): Error {
  const { cause, ...rest } = fields;
  return Object.assign(new Error(message, "cause" in fields ? { cause } : undefined), { name, ...rest });
}

describe("error codes", () => {
  const classes = [...Object.values(errors), CliUsageError];

  test("every error class has its own code, the same for every instance, an own property (in JSON)", () => {
    const codes = classes.map((ErrorClass) => new ErrorClass("x").code);
    expect(new Set(codes).size).toBe(classes.length);
    for (const ErrorClass of classes) {
      const [one, another] = [new ErrorClass("one"), new ErrorClass("another", { cause: new Error("why") })];
      expect(one.code).toBe(another.code);
      expect(one.code).toMatch(ErrorClass === errors.AbortError ? /^ABORT_ERR$/ : /^LLAMA_SCOPE_ERR_[A-Z_]+$/);
      expect(JSON.parse(JSON.stringify(one))).toEqual({ name: ErrorClass.name, code: one.code });
    }
  });

  test("the code is the class name in upper snake case, less Error", () => {
    for (const ErrorClass of classes) {
      if (ErrorClass === errors.AbortError) continue;
      const expected = `LLAMA_SCOPE_ERR_${ErrorClass.name
        .replace(/Error$/, "")
        .replace(/(?<=[a-z])(?=[A-Z])/g, "_")
        .toUpperCase()}`;
      expect(new ErrorClass("x").code).toBe(expected);
    }
  });
});

describe("reviveError", () => {
  test("gives a llama-scope error its class, message, code and stack back", () => {
    const revived = reviveError(
      arrived("StateMismatchError", "Load it elsewhere.", { stack: "StateMismatchError: Load it elsewhere.\n    at worker.js:1:1" }),
    );
    expect(revived).toBeInstanceOf(StateMismatchError);
    expect(revived).toMatchObject({ name: "StateMismatchError", message: "Load it elsewhere.", code: "LLAMA_SCOPE_ERR_STATE_MISMATCH" });
    expect((revived as Error).stack).toContain("worker.js:1:1");
  });

  test("keeps the cause: a llama-scope cause revived as its class, recursively; a plain Error cause as it came", () => {
    const io = arrived("Error", "ENOENT: no such file", { code: "ENOENT" });
    const revived = reviveError(
      arrived("StateMismatchError", "outer", { cause: arrived("InvalidArgumentError", "middle", { cause: io }) }),
    ) as StateMismatchError;
    expect(revived).toBeInstanceOf(StateMismatchError);
    const middle = revived.cause as InvalidArgumentError;
    expect(middle).toBeInstanceOf(InvalidArgumentError);
    expect(middle.message).toBe("middle");
    expect(middle.code).toBe("LLAMA_SCOPE_ERR_INVALID_ARGUMENT");
    expect(middle.cause).toBe(io);
    expect((middle.cause as { code: string }).code).toBe("ENOENT");
  });

  test("a cause that is not an error is kept as it is; no cause stays no cause", () => {
    expect((reviveError(arrived("InvalidArgumentError", "x", { cause: { limit: 3 } })) as Error).cause).toEqual({ limit: 3 });
    expect((reviveError(arrived("InvalidArgumentError", "x", { cause: undefined })) as Error & { cause: unknown }).cause).toBeUndefined();
    expect("cause" in (reviveError(arrived("InvalidArgumentError", "x")) as Error)).toBe(false);
  });

  test("an error that is its own cause does not loop", () => {
    const looped = arrived("InvalidArgumentError", "loop");
    (looped as { cause?: unknown }).cause = looped;
    expect(reviveError(looped)).toBeInstanceOf(InvalidArgumentError);
  });

  test("other errors and values are returned as they are; an AbortError becomes fetch's DOMException", () => {
    const other = arrived("TypeError", "x is not a function");
    expect(reviveError(other)).toBe(other);
    expect(reviveError("text")).toBe("text");
    const ours = new InvalidArgumentError("already revived");
    expect(reviveError(ours)).toBe(ours);
    expect(reviveError(arrived("AbortError", "aborted"))).toMatchObject({ name: "AbortError", message: "aborted" });
    expect(reviveError(arrived("LlamaScopeError", "base"))).toBeInstanceOf(LlamaScopeError);
  });
});
