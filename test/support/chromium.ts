import { existsSync } from "node:fs";

/** Debian's Chromium, when the machine has it. */
const DEBIAN_CHROMIUM = "/usr/bin/chromium";

/**
 * The Chromium the browser tests drive: Debian's where it is installed, else the one the
 * `@sparticuz/chromium` dev dependency ships (unpacked into the temporary directory on first use),
 * so `npm test` needs nothing installed by hand and never downloads a browser.
 */
export async function chromiumExecutable(): Promise<string> {
  if (existsSync(DEBIAN_CHROMIUM)) return DEBIAN_CHROMIUM;
  const { default: shipped } = await import("@sparticuz/chromium");
  return shipped.executablePath();
}
