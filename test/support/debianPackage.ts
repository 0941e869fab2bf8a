import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

/** A program some tests run that no npm package ships, and the Debian package that has it. */
export interface DebianProgram {
  command: string;
  /** Where the package puts it (a directory the PATH may lack, such as /usr/sbin). */
  debianPath: string;
  debianPackage: string;
  /** The system-wide service the package starts at install, stopped again: the tests start their own. */
  service?: string;
}

/**
 * The program's path, installing Debian's package first when it is missing and this user may
 * (root, or passwordless sudo); otherwise this fails with one line that says what to install.
 */
export function debianExecutable(program: DebianProgram): string {
  const found = installed(program);
  if (found !== undefined) return found;
  const { command, debianPackage, service } = program;
  const root = process.getuid?.() === 0;
  const sudo = !root && canSudo();
  if (!root && !sudo) throw new Error(`These tests need ${command}: install Debian's package (sudo apt-get install ${debianPackage}).`);
  const run = (program: string, ...args: string[]) =>
    execFileSync(root ? program : "sudo", root ? args : [program, ...args], {
      stdio: "ignore",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  try {
    run("apt-get", "install", "-y", "--no-install-recommends", debianPackage);
  } catch {
    // A fresh machine may have no package lists yet.
    run("apt-get", "update");
    run("apt-get", "install", "-y", "--no-install-recommends", debianPackage);
  }
  if (service !== undefined)
    try {
      run("service", service, "stop");
    } catch {
      // No init system in a container: nothing was started.
    }
  const made = installed(program);
  if (made === undefined) throw new Error(`These tests need ${command}: installing Debian's ${debianPackage} did not provide it.`);
  return made;
}

/** The program on the PATH, else where Debian's package puts it; undefined when neither has it. */
function installed({ command, debianPath }: DebianProgram): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, command);
    if (dir !== "" && existsSync(candidate)) return candidate;
  }
  return existsSync(debianPath) ? debianPath : undefined;
}

function canSudo(): boolean {
  try {
    execFileSync("sudo", ["-n", "true"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
