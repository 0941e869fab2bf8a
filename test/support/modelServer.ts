import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { testModelPath } from "./testModel.js";

/** Options of {@link serveTestModel}. */
export interface ModelServerOptions {
  /** Send this many bytes of the file, then nothing more (the connection stays open): a download that stalls. */
  stallAfter?: number;
  /** Answer every request with this status and no body (e.g. 404). */
  status?: number;
}

/** A plain HTTP server on loopback that serves the test model, as a model host would. */
export interface ModelServer {
  /** The model's URL, ending in its file name. */
  url: string;
  /** Size of the file served. */
  bytes: number;
  /** GET requests received so far. */
  requests: number;
  /** Closes the server and every connection, stalled ones included. */
  close(): Promise<void>;
}

/** Serves the test model (test/support/testModel) at `http://127.0.0.1:<port>/models/<name>`. */
export async function serveTestModel({ stallAfter, status }: ModelServerOptions = {}): Promise<ModelServer> {
  const file = testModelPath();
  const data = readFileSync(file);
  let requests = 0;
  const server = http.createServer((request, response) => {
    requests++;
    if (status !== undefined) {
      response.writeHead(status).end();
      return;
    }
    response.writeHead(200, { "content-type": "application/octet-stream", "content-length": data.length });
    if (request.method === "HEAD") response.end();
    else if (stallAfter === undefined) response.end(data);
    else response.write(data.subarray(0, stallAfter));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/models/${path.basename(file)}`,
    bytes: data.length,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
