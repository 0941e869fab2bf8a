// Entry point of the worker thread that LlamaParent starts: exposes a ScopeService over Comlink.
import { parentPort } from "node:worker_threads";
import { expose } from "comlink";
import { nodeEndpoint } from "../transport/nodeEndpoint.js";
import { ScopeService } from "./ScopeService.js";

if (parentPort === null) throw new Error("llama-scope's worker must run in a worker thread started by LlamaParent.");
expose(new ScopeService(), nodeEndpoint(parentPort));
