// Entry point of the worker thread that LlamaParent starts: exposes a ScopeService over Comlink.
import { parentPort } from "node:worker_threads";
import { expose } from "comlink";
import { installErrorTransfer } from "../protocol/transport/errorTransfer.js";
import { nodeEndpoint } from "../protocol/transport/nodeEndpoint.js";
import { ScopeService } from "./ScopeService.js";

if (parentPort === null) throw new Error("llama-scope's worker must run in a worker thread started by LlamaParent.");
const port = parentPort;
// Once the service is disposed nothing native is running: the port stops holding the event loop
// open, and the thread ends by itself when the last reply is sent. Ending this way (instead of
// worker.terminate()) cannot cut into native work, which would abort the whole process.
installErrorTransfer(); // errors go back with their code and cause
// The parent is a thread of this process: frozen states go to it in shared memory, not copied.
expose(new ScopeService(() => port.unref(), { sharedStates: true }), nodeEndpoint(port));
