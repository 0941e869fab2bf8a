export type * from "./messages.js";
export type { WorkerApi } from "./WorkerApi.js";
export type * from "./functions.js";
