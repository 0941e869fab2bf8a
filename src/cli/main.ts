#!/usr/bin/env node
import { readFileSync } from "node:fs";
import path from "node:path";
import { packageRoot } from "../shared/packageRoot.js";
import { CliUsageError } from "./CliUsageError.js";
import { MissingDependencyError } from "../shared/errors/index.js";
import { serve } from "./serve.js";

const USAGE = `Usage: llama-scope <command> [options]

Commands:
  serve    an OpenAI-compatible HTTP server on one model (llama-scope serve --help)

  -h, --help       show this help
  -v, --version    show the version`;

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === "serve") return serve(rest);
  if (command === undefined || command === "-h" || command === "--help") {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === "-v" || command === "--version") {
    const manifest = JSON.parse(readFileSync(path.join(packageRoot(), "package.json"), "utf8")) as { version: string };
    process.stdout.write(`${manifest.version}\n`);
    return 0;
  }
  throw new CliUsageError(`unknown command "${command}".`);
}

// Nothing that goes wrong in a request may end the server: a stray rejection is logged, not fatal.
process.on("unhandledRejection", (reason) =>
  process.stderr.write(`llama-scope: unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}\n`),
);

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    if (error instanceof CliUsageError) {
      process.stderr.write(`llama-scope: ${error.message}\nRun llama-scope --help, or llama-scope serve --help, for the options.\n`);
      process.exitCode = 2;
      return;
    }
    // A missing package is the user's to install: its one line says how, no stack.
    const text = error instanceof MissingDependencyError ? error.message : ((error as Error)?.stack ?? String(error));
    process.stderr.write(`llama-scope: ${text}\n`);
    process.exitCode = 1;
  },
);
