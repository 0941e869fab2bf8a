// The step barrier on its own, no model: who is released, when, and in what order.
import diagnostics_channel from "node:diagnostics_channel";
import { afterEach, describe, expect, test } from "@jest/globals";
import { STEP_CHANNEL } from "../../src/engine/batching/diagnostics.js";
import { inLockStep, STEP_PATIENCE_MS, StepBarrier, type LockStep, type StepRecord } from "../../src/engine/batching/StepBarrier.js";

/** Arrivals that resolve record their id here, in resolution order. */
function tracker() {
  const released: number[] = [];
  return {
    released,
    arrive: (barrier: StepBarrier, id: number) => Promise.resolve(barrier.arrive(id)).then(() => released.push(id)),
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

let stopObserving: (() => void) | undefined;
afterEach(() => stopObserving?.());

function recordSteps(): StepRecord[] {
  const steps: StepRecord[] = [];
  const listener = (step: unknown) => steps.push(step as StepRecord);
  diagnostics_channel.subscribe(STEP_CHANNEL, listener);
  stopObserving = () => diagnostics_channel.unsubscribe(STEP_CHANNEL, listener);
  return steps;
}

test("a lone slot is released at once, every step, without a promise", async () => {
  const barrier = new StepBarrier();
  const steps = recordSteps();
  for (let i = 0; i < 3; i++) expect(barrier.arrive(5)).toBeUndefined();
  expect(steps.map((s) => s.sequenceIds)).toEqual([[5], [5], [5]]);
  expect(steps.every((s) => s.late.length === 0)).toBe(true);
});

/** Brings `ids` into one step: afterwards the barrier expects each of them back. */
async function inOneStep(barrier: StepBarrier, [first, ...rest]: [number, ...number[]]): Promise<void> {
  await barrier.arrive(first); // alone: released at once, and expected back
  await Promise.all([...rest.map((id) => barrier.arrive(id)), barrier.arrive(first)]);
}

test("slots released together wait for each other, then go in sequence-id order in one tick", async () => {
  const barrier = new StepBarrier();
  const steps = recordSteps();
  await inOneStep(barrier, [2, 0, 1]);
  expect(steps.map((s) => s.sequenceIds)).toEqual([[2], [0, 1, 2]]);
  const { released, arrive } = tracker();
  const early = [arrive(barrier, 2), arrive(barrier, 1)];
  await settle();
  expect(released).toEqual([]); // 0 is expected
  await Promise.all([...early, arrive(barrier, 0)]);
  expect(released).toEqual([0, 1, 2]);
  expect(steps.at(-1)).toMatchObject({ sequenceIds: [0, 1, 2], late: [] });
});

test("a slot that starts generating joins the step under way", async () => {
  const barrier = new StepBarrier();
  await inOneStep(barrier, [0, 1]);
  const { released, arrive } = tracker();
  const joining = arrive(barrier, 3);
  await settle();
  expect(released).toEqual([]); // waits for 0 and 1, which are expected
  await Promise.all([joining, arrive(barrier, 1), arrive(barrier, 0)]);
  expect(released).toEqual([0, 1, 3]);
});

test("a slot that leaves releases the step at once, without the patience timer", async () => {
  const barrier = new StepBarrier();
  const steps = recordSteps();
  await inOneStep(barrier, [0, 1, 2]);
  const { released, arrive } = tracker();
  const waiting = [arrive(barrier, 0), arrive(barrier, 2)];
  await settle();
  expect(released).toEqual([]);
  const start = performance.now();
  barrier.leave(1);
  await Promise.all(waiting);
  expect(performance.now() - start).toBeLessThan(STEP_PATIENCE_MS);
  expect(released).toEqual([0, 2]);
  expect(steps.at(-1)).toMatchObject({ sequenceIds: [0, 2], late: [] });
  // Leaving twice, or leaving when never there, changes nothing.
  barrier.leave(1);
  barrier.leave(9);
  await Promise.all([barrier.arrive(0), barrier.arrive(2)]);
  expect(steps.at(-1)).toMatchObject({ sequenceIds: [0, 2], late: [] });
});

test("a late slot holds the step for STEP_PATIENCE_MS at most, then joins the next one", async () => {
  const barrier = new StepBarrier();
  const steps = recordSteps();
  await inOneStep(barrier, [0, 1]);
  const start = performance.now();
  await barrier.arrive(0); // 1 never comes in time
  const waited = performance.now() - start;
  expect(waited).toBeGreaterThanOrEqual(STEP_PATIENCE_MS - 2);
  expect(steps.at(-1)).toMatchObject({ sequenceIds: [0], late: [1] });
  // The late slot arrives while 0 is out: it waits for 0, and they are released together.
  const { released, arrive } = tracker();
  const late = arrive(barrier, 1);
  await settle();
  expect(released).toEqual([]);
  await Promise.all([late, arrive(barrier, 0)]);
  expect(released).toEqual([0, 1]);
  expect(steps.at(-1)).toMatchObject({ sequenceIds: [0, 1], late: [] });
});

test("when every waiting slot leaves, no timer is left to fire", async () => {
  const barrier = new StepBarrier();
  const steps = recordSteps();
  await inOneStep(barrier, [0, 1]);
  const waiting = barrier.arrive(0); // waits for 1: the patience timer runs
  barrier.leave(0);
  await waiting;
  const count = steps.length;
  await new Promise((resolve) => setTimeout(resolve, STEP_PATIENCE_MS * 2));
  expect(steps.length).toBe(count);
  // 1 is still expected from the last step: a new arrival of 0 waits for it, not for a stale timer.
  barrier.leave(1);
  await barrier.arrive(0);
});

describe("inLockStep", () => {
  /** A LockStep that logs its calls, and tokens that log when they are pulled. */
  function traced(count: number, failAt?: number) {
    const log: string[] = [];
    const lockstep: LockStep = {
      arrive: () => (log.push("arrive"), undefined),
      leave: () => log.push("leave"),
    };
    async function* tokens() {
      try {
        for (let i = 0; i < count; i++) {
          if (i === failAt) throw new Error("decode failed");
          log.push(`decode ${i}`);
          yield i;
        }
      } finally {
        log.push("tokens closed");
      }
    }
    return { log, stepped: inLockStep(tokens(), lockstep) };
  }

  test("arrives before every token but the first, and leaves when the tokens run out", async () => {
    const { log, stepped } = traced(3);
    for await (const token of stepped) log.push(`got ${token}`);
    expect(log).toEqual([
      "decode 0",
      "got 0",
      "arrive",
      "decode 1",
      "got 1",
      "arrive",
      "decode 2",
      "got 2",
      "arrive",
      "tokens closed",
      "leave",
    ]);
  });

  test("a consumer that breaks leaves the step before the tokens are closed", async () => {
    const { log, stepped } = traced(5);
    for await (const token of stepped) if (token === 1) break;
    expect(log).toEqual(["decode 0", "arrive", "decode 1", "leave", "tokens closed"]);
  });

  test("a consumer that throws, or tokens that fail, leave the step too", async () => {
    const thrown = traced(5);
    await expect(
      (async () => {
        for await (const token of thrown.stepped) if (token === 0) throw new Error("consumer failed");
      })(),
    ).rejects.toThrow("consumer failed");
    expect(thrown.log).toEqual(["decode 0", "leave", "tokens closed"]);
    const failing = traced(5, 1);
    await expect(
      (async () => {
        for await (const token of failing.stepped) void token;
      })(),
    ).rejects.toThrow("decode failed");
    expect(failing.log).toEqual(["decode 0", "arrive", "tokens closed", "leave"]);
  });

  test("without a barrier, the tokens as they are", () => {
    const tokens = (async function* () {})();
    expect(inLockStep(tokens, undefined)).toBe(tokens);
  });
});
