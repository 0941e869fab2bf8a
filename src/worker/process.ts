// Entry point of the child process that LlamaParent forks with `isolation: "process"`: the same
// ScopeService as the worker thread, over the IPC channel. A native crash here ends this process
// only; the parent rejects the calls in flight and starts a new one.
import { expose } from "comlink";
import { installErrorTransfer } from "../protocol/transport/errorTransfer.js";
import { processEndpoint } from "../protocol/transport/processEndpoint.js";
import { ScopeService } from "./ScopeService.js";

if (process.send === undefined) throw new Error("llama-scope's engine process must be started by LlamaParent (child_process.fork).");
// Once the service is disposed nothing native is running: the channel stops holding the event
// loop open and the process ends by itself after its last reply.
installErrorTransfer(); // errors go back with their code and cause
expose(new ScopeService(() => process.channel?.unref()), processEndpoint(process));
