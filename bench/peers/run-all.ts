/**
 * Runs the scenario set against every server: each run.sh scenario on each server in turn
 * (alternating which server goes first), then churn on each server.
 */
import { runChurn } from "./churn.ts";
import type { LoadgenLine } from "./figures.ts";
import type { PeersDir } from "./peers-dir.ts";
import type { PeersResults } from "./results.ts";
import { runWithRunSh } from "./run-sh.ts";
import { churn, churnRoundArgs, extraScenarios, quickArgs } from "./scenarios.ts";
import { type ServerName, serverCommand } from "./servers.ts";

export interface RunAllOptions {
  peers: PeersDir;
  /** run.sh's own scenario definitions. */
  runShScenarios: ReadonlyMap<string, string>;
  scenarios: readonly string[];
  servers: readonly ServerName[];
  quick: boolean;
  attempts: number;
  rounds: number;
  projectArgs: readonly string[];
  /** Parent of the project's fresh data dirs (one per server start); the caller removes it. */
  dataParent: string;
  logDir: string;
  log: (line: string) => void;
  /** Called after each scenario (and after churn) with the results so far. */
  progress: (scenario: string, definition: string) => void;
}

export async function runAll(o: RunAllOptions, into: PeersResults): Promise<void> {
  const { dataParent } = o;
  const commands = new Map(
    o.servers.map((s) => [s, serverCommand(s, o.peers.root, o.projectArgs)]),
  );
  const common = { peers: o.peers, attempts: o.attempts, dataParent, logDir: o.logDir, log: o.log };
  for (const [k, scenario] of o.scenarios.entries()) {
    if (scenario === churn) continue;
    const defined = extraScenarios[scenario] ?? (o.runShScenarios.get(scenario) as string);
    const definition = o.quick ? quickArgs(defined) : extraScenarios[scenario];
    const lines = new Map<ServerName, LoadgenLine>();
    // Each scenario starts with the next server, so that none always runs first.
    const order = o.servers.map((_, i) => o.servers[(i + k) % o.servers.length] as ServerName);
    for (const server of order) {
      o.log(`${scenario} on ${server}`);
      const command = commands.get(server);
      if (command === undefined) continue;
      const line = await runWithRunSh({ ...common, server, command, scenario, definition });
      lines.set(server, line);
    }
    const ordered = o.servers.flatMap((s) => {
      const line = lines.get(s);
      return line === undefined ? [] : [[s, line] as const];
    });
    into.byScenario.set(scenario, new Map(ordered));
    // Quick runs append shorter durations to the definition: shown after a "+".
    o.progress(
      scenario,
      o.quick ? `${defined} + ${quickArgs(defined).slice(defined.length + 1)}` : defined,
    );
  }
  if (o.scenarios.includes(churn)) {
    for (const server of o.servers) {
      o.log(`churn on ${server}: ${o.rounds} rounds`);
      const command = commands.get(server);
      if (command === undefined) continue;
      into.churns.push(await runChurn({ ...common, server, command, rounds: o.rounds }));
    }
    o.progress(churn, churnRoundArgs.join(" "));
  }
}
