// The chat page at /, in a real Chromium (Debian's, else the npm package's) driven by playwright-core: two windows, each its own
// session, stream their replies at the same time, and each reply is what one chat scope of the
// library says to that window's messages. A screenshot is saved in test-artifacts/.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { chromium, type BrowserContext } from "playwright-core";
import type { ChatHistoryItem, LlamaScope } from "../../src/index.js";
import type { LlamaServer } from "../../src/server/index.js";
import { metric, readMetrics, startTestServer, type TestServer } from "../support/servers.js";
import { chromiumExecutable } from "../support/chromium.js";
import { projectRoot } from "../support/testModel.js";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];
/** Long enough replies that two streams overlap in time on a busy machine. */
const MAX_TOKENS = 300;
const MESSAGES = ["Tell me a story about a cat.", "Tell me a story about a dog."];

let t: TestServer;
let browser: BrowserContext;
let profile: string;
beforeAll(async () => {
  t = await startTestServer({ slots: 2, contextSize: 1024 });
  profile = await mkdtemp(path.join(os.tmpdir(), "llama-scope-chromium-"));
  // A persistent context on a fresh profile directory: Chromium's --user-data-dir, never a shared one.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: await chromiumExecutable(),
    headless: true,
    args: CHROMIUM_ARGS,
  });
});
afterAll(async () => {
  await browser?.close();
  await rm(profile, { recursive: true, force: true });
  await t.close();
});

/** What a chat scope of the library, started from `history`, replies to `message` at temperature 0. */
async function libraryReply(history: ChatHistoryItem[], message: string): Promise<string> {
  const scope = t.parent.getScope({ mode: "chat", history });
  try {
    return await scope.sendPrompt(message, { maxTokens: MAX_TOKENS, temperature: 0 });
  } finally {
    await scope.dispose();
  }
}

/** A session's chat history as its scope holds it (the server keeps sessions to itself: read through its private store). */
async function sessionHistory(server: LlamaServer, sessionId: string): Promise<ChatHistoryItem[]> {
  const store = (server as unknown as { sessions: { sessions: Map<string, { scope: LlamaScope | undefined }> } }).sessions;
  const scope = store.sessions.get(sessionId)?.scope;
  if (scope === undefined) throw new Error(`The server has no scope for session ${sessionId}.`);
  return scope.getChatHistory();
}

interface WindowReport {
  session: string;
  state: string;
  chunks: number;
  firstChunkAt: number;
  lastChunkAt: number;
  replies: string[];
}

test("two chat windows stream at the same time, each in its own session", async () => {
  const page = await browser.newPage();
  await page.goto(`${t.url}/`);
  const windows = page.locator("section.window");
  expect(await windows.count()).toBe(2);
  await page.fill("#max-tokens", String(MAX_TOKENS));
  await page.fill("#temperature", "0");
  for (const [i, message] of MESSAGES.entries()) await windows.nth(i).locator("textarea").fill(message);

  const report = () =>
    page.$$eval("section.window", (sections) =>
      sections.map((section) => ({
        session: section.dataset.session ?? "",
        state: section.dataset.state ?? "",
        chunks: Number(section.dataset.chunks),
        firstChunkAt: Number(section.dataset.firstChunkAt),
        lastChunkAt: Number(section.dataset.lastChunkAt),
        replies: [...section.querySelectorAll(".assistant, .error")].map((item) => item.textContent ?? ""),
      })),
    ) as Promise<WindowReport[]>;
  // Page-side code as text: the tests compile without the DOM's types.
  const allDone = () =>
    page.waitForFunction('[...document.querySelectorAll("section.window")].every((s) => s.dataset.state !== "streaming")', null, {
      timeout: 60_000,
    });

  // Both Send buttons in one task: the two requests start together.
  await page.evaluate('document.querySelectorAll("section.window button[type=submit]").forEach((button) => button.click())');
  await allDone();
  const [a, b] = await report();
  expect([a!.state, b!.state]).toEqual(["done", "done"]);
  expect(a!.session).not.toBe(b!.session);
  expect(a!.chunks).toBeGreaterThan(1);
  expect(b!.chunks).toBeGreaterThan(1);
  // Each window received text while the other was still receiving: the streams ran side by side.
  expect(a!.firstChunkAt).toBeLessThan(b!.lastChunkAt);
  expect(b!.firstChunkAt).toBeLessThan(a!.lastChunkAt);
  expect(a!.replies[0]!.length).toBeGreaterThan(0);
  expect(b!.replies[0]!.length).toBeGreaterThan(0);
  expect(metric(await readMetrics(t.url), 'llama_scope_sessions{state="live"}')).toBe(2);

  // A second message in the first window continues its own conversation only. (Compared with a
  // scope started from the session's own history, reply tokens included: replies decoded in one
  // batch with another scope's may differ in the last bits from replies decoded alone, see
  // docs/security.md, and a reply's text may tokenize otherwise than the model generated it.)
  const history = await sessionHistory(t.server, a!.session);
  expect(history.map((item) => (item.type === "model" ? item.response : item.text))).toEqual([MESSAGES[0], [a!.replies[0]]]);
  await windows.nth(0).locator("textarea").fill("What happened next?");
  await windows.nth(0).locator("button[type=submit]").click();
  await page.waitForFunction(
    'document.querySelector("section.window").dataset.state !== "streaming" && document.querySelectorAll("section.window:first-child li").length === 4',
    null,
    {
      timeout: 60_000,
    },
  );
  const [first, second] = await report();
  expect(first!.replies).toEqual([a!.replies[0], await libraryReply(history, "What happened next?")]);
  expect(second!.replies).toEqual(b!.replies);

  const artifacts = path.join(projectRoot(), "test-artifacts");
  await mkdir(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, "chat-page.png"), fullPage: true });
  await page.close();
});
