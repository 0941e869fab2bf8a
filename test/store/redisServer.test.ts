import { existsSync } from "node:fs";
import { expect, test } from "@jest/globals";
import { createClient } from "redis";
import { startRedisServer } from "../support/redisServer.js";

// The shared conversation store (issue 22) is tested against a real redis-server that its tests
// start themselves. This checks that harness: its own port and directory, durable writes, a clean stop.
test("a test's redis-server: the client writes and reads, a restart keeps what was acknowledged, stop removes its directory", async () => {
  const server = await startRedisServer({ appendonly: true });
  try {
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    const write = createClient({ url: server.url });
    await write.connect();
    expect(await write.ping()).toBe("PONG");
    await write.set("turn", "acknowledged");
    write.destroy();
    await server.restart();
    const read = createClient({ url: server.url });
    await read.connect();
    expect(await read.get("turn")).toBe("acknowledged");
    read.destroy();
  } finally {
    await server.stop();
    await server.stop(); // safe twice
  }
  expect(existsSync(server.dir)).toBe(false);
});
