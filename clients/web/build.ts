/**
 * Bundles the browser client into clients/web/dist/ (index.html, app.js,
 * app.css), which the chat server serves at `/`. One esbuild call, well under
 * a second, so `npm start` and the browser tests build it every time instead
 * of trusting a stale copy. Run directly: `npm run build:web`.
 */
import { copyFile, mkdir } from "node:fs/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as esbuild from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));

/** Where the bundle goes by default; the server's default web root. */
export const defaultOutdir = fileURLToPath(new URL("./dist/", import.meta.url));

export interface BuildWebOptions {
  /** Default clients/web/dist/. */
  outdir?: string;
  /** Default true. */
  minify?: boolean;
}

export async function buildWebClient(options: BuildWebOptions = {}): Promise<{ outdir: string }> {
  const outdir = options.outdir ?? defaultOutdir;
  await mkdir(outdir, { recursive: true });
  await esbuild.build({
    entryPoints: { app: `${here}src/main.ts` },
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    // BigInt literals (seq numbers) and fetch streams: every current browser.
    target: ["es2022", "chrome105", "firefox110", "safari16"],
    minify: options.minify ?? true,
    sourcemap: "linked",
    legalComments: "none",
    logLevel: "warning",
  });
  // Last, so a page is only served once its script and styles exist.
  await copyFile(`${here}index.html`, `${outdir}/index.html`);
  return { outdir };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const started = performance.now();
  const { outdir } = await buildWebClient();
  process.stdout.write(
    `web client built in ${Math.round(performance.now() - started)} ms: ${outdir}\n`,
  );
}
