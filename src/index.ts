export * from "./engine/index.js";
export * from "./errors/index.js";
