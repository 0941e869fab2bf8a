import type { Endpoint } from "comlink";
import * as adapter from "comlink/dist/umd/node-adapter.js";
import type { NodeEndpoint } from "comlink/dist/umd/node-adapter.js";

/**
 * Comlink's adapter from a Node `MessagePort`/`Worker` to a Comlink endpoint. Its UMD build is
 * CommonJS: Node hands over `module.exports` (the function) as the namespace's `default`, while its
 * typings describe an ES module whose `default` is the function; the cast bridges the two.
 */
export const nodeEndpoint = adapter.default as unknown as (port: NodeEndpoint) => Endpoint;
