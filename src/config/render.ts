import type { Option } from "./option.ts";

/** `--help`: one row per option, in the order declared. */
export function renderHelp(options: readonly Option<unknown>[]): string {
  const flagWidth = Math.max(...options.map((o) => o.flag.length)) + 2;
  const envWidth = Math.max(...options.map((o) => o.env.length));
  const row = (flag: string, env: string, text: string) =>
    `  ${flag.padEnd(flagWidth)} ${env.padEnd(envWidth)}  ${text}`;
  return [
    "Usage: npm start -- [options]",
    "",
    "Chat server: gRPC, gRPC-Web and Connect on one port. Flags win over environment variables.",
    "",
    row("flag", "environment", "meaning"),
    ...options.map((o) =>
      row(
        `--${o.flag}`,
        o.env,
        `${o.help}${o.shownDefault === undefined ? "" : ` (default ${o.shownDefault})`}`,
      ),
    ),
    row("--help", "", "show this text"),
  ].join("\n");
}

/** docs/configuration.md: the same table as `--help`, for readers of the repository. */
export function renderMarkdown(options: readonly Option<unknown>[]): string {
  const code = (text: string | undefined) =>
    text === undefined || text === "" ? "" : `\`${text}\``;
  const cell = (text: string) => text.replaceAll("|", "\\|");
  return [
    "# Configuration",
    "",
    "<!-- Generated from src/config.ts by `npm run docs:config`: edit it there, not here. -->",
    "",
    "Each setting is a flag (`npm start -- --port 8080`) or an environment variable",
    "(`PORT=8080 npm start`); a flag wins over its variable, and `npm start -- --help` prints",
    "this table. Durations take a unit (`500ms`, `15s`, `30m`, `12h`, `90d`; a bare number is",
    "milliseconds); rates are `COUNT/DURATION` (`1000/10s`).",
    "",
    "| flag | environment | default | meaning |",
    "|---|---|---|---|",
    ...options.map(
      (o) =>
        `| ${code(`--${o.flag}`)} | ${code(o.env)} | ${cell(code(o.shownDefault))} | ${cell(o.help)} |`,
    ),
    "",
  ].join("\n");
}
