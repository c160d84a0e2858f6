/**
 * Which JavaScript runtime runs the server. The one place that tells Node,
 * Bun and Deno apart; Bun and Deno also report a Node version (the Node API
 * they emulate), so check them first.
 */
export type RuntimeName = "node" | "bun" | "deno";

/** What the startup line says about the runtime. */
export interface RuntimeInfo {
  name: RuntimeName;
  /** The runtime's own version, e.g. "20.20.2" for Node, "1.4.5" for Bun. */
  version: string;
  /** The JavaScript engine: "V8 11.3.244.8-node.38", "JavaScriptCore (WebKit d6375c7)". */
  engine: string;
  /** The Node API version a non-Node runtime emulates; undefined on Node. */
  nodeApi: string | undefined;
}

function versions(): Record<string, string | undefined> {
  return (
    (globalThis as { process?: { versions?: Record<string, string | undefined> } }).process
      ?.versions ?? {}
  );
}

/** The runtime's name, for the few places that pick a runtime-specific adapter. */
export function runtimeName(): RuntimeName {
  const v = versions();
  if (v.bun !== undefined) return "bun";
  if (v.deno !== undefined) return "deno";
  return "node";
}

/**
 * Name, version and engine. Bun reports a made-up V8 version for
 * compatibility; its engine is JavaScriptCore, known by a WebKit commit.
 */
export function runtimeInfo(): RuntimeInfo {
  const v = versions();
  const name = runtimeName();
  const engine =
    name === "bun"
      ? `JavaScriptCore (WebKit ${(v.webkit ?? "unknown").slice(0, 7)})`
      : `V8 ${v.v8 ?? "unknown"}`;
  return {
    name,
    version: v[name] ?? "unknown",
    engine,
    nodeApi: name === "node" ? undefined : v.node,
  };
}
