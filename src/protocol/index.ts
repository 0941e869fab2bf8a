export type * from "./messages.js";
export type { WorkerApi } from "./WorkerApi.js";
