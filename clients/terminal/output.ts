import process from "node:process";

/**
 * Writes to stdout and resolves once the runtime has handed the bytes over,
 * so that exiting right after never cuts a line short (stdout to a pipe is
 * asynchronous on some runtimes).
 */
export function writeOut(text: string): Promise<void> {
  return new Promise((resolve, reject) =>
    process.stdout.write(text, (err) => (err ? reject(err) : resolve())),
  );
}

/** Same as {@link writeOut}, for stderr: errors, warnings, connection notices. */
export function writeErr(text: string): Promise<void> {
  return new Promise((resolve) => process.stderr.write(text, () => resolve()));
}
