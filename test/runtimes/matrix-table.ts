/**
 * The runtime × protocol × HTTP version table, derived from which tests ran
 * and passed on each runtime. A row lists the tests that exercise it (by
 * describe/test name); a cell says how many of them passed.
 */
import type { TestResult } from "./junit.ts";

/** Where a result came from: the e2e suite (server as a subprocess) or the runtime's own test runner. */
export type Source = "e2e" | "native";

export interface SourcedResult extends TestResult {
  source: Source;
}

export interface RuntimeResults {
  /** Column header, e.g. "Node 20.20.2". */
  label: string;
  results: SourcedResult[];
  seconds: number;
  /** Exit statuses of the runs; any non-zero fails the matrix whatever the table says. */
  ok: boolean;
}

interface Row {
  group: string;
  name: string;
  source: Source;
  /** Matched against "describe › … › test". */
  test: RegExp;
}

const e2e = (group: string, name: string, test: RegExp): Row => ({
  group,
  name,
  source: "e2e",
  test,
});
const native = (group: string, name: string, test: RegExp): Row => ({
  group,
  name,
  source: "native",
  test,
});

const rows: Row[] = [
  e2e(
    "gRPC",
    "h2c (cleartext HTTP/2)",
    /^(gRPC over h2c|@grpc\/grpc-js|buf curl --protocol gRPC,|the seed's Python client|buf curl reflection)/,
  ),
  e2e("gRPC", "h2 (TLS, ALPN)", /^TLS › gRPC over h2/),
  e2e(
    "gRPC-Web",
    "HTTP/1.1",
    /^(gRPC-Web over HTTP\/1\.1|buf curl HTTP versions › calls over HTTP\/1\.1)/,
  ),
  e2e("gRPC-Web", "h2c", /^(gRPC-Web over HTTP\/2|buf curl --protocol gRPC-Web)/),
  e2e("gRPC-Web", "HTTP/1.1 (TLS, ALPN)", /^TLS › gRPC-Web over HTTP\/1\.1/),
  e2e(
    "Connect",
    "HTTP/1.1",
    /^(Connect over HTTP\/1\.1|buf curl HTTP versions › calls over HTTP\/1\.1|runtime workarounds)/,
  ),
  e2e("Connect", "h2c", /^(Connect over HTTP\/2|buf curl --protocol Connect)/),
  e2e("Connect", "h2 (TLS, ALPN)", /^TLS › Connect over h2/),
  e2e("Connect", "HTTP/1.1 (TLS, ALPN)", /^TLS › Connect over HTTP\/1\.1/),
  e2e(
    "Services",
    "server reflection v1 and v1alpha",
    /^buf curl(?! HTTP versions › calls over HTTP\/1\.1)/,
  ),
  e2e("Services", "health Check and Watch", /health|^graceful shutdown/),
  e2e("Server", "TLS by ALPN, handshake timeout", /^TLS › (negotiates|closes)/),
  e2e("Server", "startup line, --help, exit codes", /^startup/),
  e2e("Server", "browser client at / (static files)", /^startup .* › serves the browser client/),
  e2e("Server", "graceful shutdown (SIGTERM, SIGINT)", /^(graceful shutdown|shutdown ›)/),
  e2e("Server", "runtime workarounds", /^runtime workarounds/),
  e2e("Server", "metrics, /healthz, /readyz", /^operator endpoints over HTTP/),
  e2e("Server", "auth: JWTs, room claims, expiring streams", /^auth: /),
  e2e("Server", "acknowledged survives SIGKILL (SQLite)", /^a server killed with SIGKILL/),
  e2e(
    "Scale out",
    "--store redis: instances, outage, cluster",
    /^(three instances on one Redis|instances through a Redis outage|two instances on a Redis Cluster|starting on Redis)/,
  ),
  native(
    "Native",
    "store contract (memory, SQLite driver, Redis, Redis Cluster)",
    /^(MessageStore contract|sqlite store|redis store)/,
  ),
  native(
    "Native",
    "bus and presence contracts (in-process, Redis, Redis Cluster)",
    /^(cluster bus contract|presence contract|redis presence|chat rooms on a cluster event bus)/,
  ),
  native(
    "Native",
    "one-port server (sniffing, h2c + HTTP/1.1, close)",
    /^(sniffProtocol|createSniffer|createIpGuard|one-port server|shutdown ›|http2 session idle timeout)/,
  ),
  native("Native", "all unit and contract suites", /./),
];

function cell(results: SourcedResult[], row: Row): string {
  const matching = results.filter(
    (r) => r.source === row.source && row.test.test(r.path.join(" › ")),
  );
  if (matching.length === 0) return "—";
  const failed = matching.filter((r) => r.failed).length;
  return failed === 0 ? `✅ ${matching.length}` : `❌ ${failed} of ${matching.length} failed`;
}

/** The markdown table: one row per protocol/HTTP version or feature, one column per runtime. */
export function renderTable(runtimes: RuntimeResults[]): string {
  const header = `| | | ${runtimes.map((r) => r.label).join(" | ")} |`;
  const rule = `|---|---|${runtimes.map(() => "---").join("|")}|`;
  const lines = rows.map(
    (row) =>
      `| ${row.group} | ${row.name} | ${runtimes.map((r) => cell(r.results, row)).join(" | ")} |`,
  );
  const totals = runtimes.map((r) => {
    const failed = r.results.filter((t) => t.failed).length;
    return `${r.ok && failed === 0 ? "✅" : "❌"} ${r.results.length - failed}/${r.results.length}`;
  });
  return [header, rule, ...lines, `| **All** | tests passed | ${totals.join(" | ")} |`].join("\n");
}

/** The failed tests of each runtime, for the console and the report. */
export function renderFailures(runtimes: RuntimeResults[]): string {
  const lines: string[] = [];
  for (const runtime of runtimes) {
    for (const r of runtime.results.filter((t) => t.failed)) {
      lines.push(`- ${runtime.label} (${r.source}): ${r.path.join(" › ")}: ${r.message}`);
    }
  }
  return lines.join("\n");
}
