import { expect, test } from "@jest/globals";
import { runFixture } from "./support/runFixture.js";

test("after dispose() the process exits on its own and leaves no temporary files", async () => {
  const run = await runFixture("disposeThenExit");
  expect(run.signal).toBeNull(); // killed = it hung on an open handle
  expect(run.code).toBe(0);
  expect(run.report).toEqual({ running: "rejected", leftovers: [] });
});
