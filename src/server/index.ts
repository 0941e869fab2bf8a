export { LlamaServer, type ListenOptions, type ServerAddress } from "./LlamaServer.js";
export type { ServerOptions } from "./ServerOptions.js";
export { ApiError, type ApiErrorBody } from "./ApiError.js";
