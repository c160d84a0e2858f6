/**
 * The picture of a peers run, as a hand-written SVG (no dependency): grouped bars per
 * scenario for server CPU per delivery and p99 latency (one panel each, log scale), one
 * colour per server, every bar labelled; and, if churn ran, RSS after each round.
 */
import { cpuPerDeliveryUs, type LoadgenLine, measured } from "./figures.ts";
import type { PeersResults } from "./results.ts";
import type { ServerName } from "./servers.ts";

export const serverColours: Readonly<Record<ServerName, string>> = {
  project: "#e8590c",
  ref: "#1971c2",
  ceiling: "#2f9e44",
};

export interface ChartInput {
  title: string;
  subtitle: string;
  servers: readonly ServerName[];
  /** Traffic scenarios, in order, with each server's figures (missing: no bar). */
  scenarios: readonly {
    name: string;
    cpuUsPerDelivery: Partial<Record<ServerName, number>>;
    p99Ms: Partial<Record<ServerName, number>>;
    /** Servers that were measured but delivered nothing: "none" instead of "n/a". */
    deliveredNothing: readonly ServerName[];
  }[];
  /** RSS in MB at start and after each round, per server; `diedInRound` ends the line. */
  churn: readonly {
    server: ServerName;
    rssMb: (number | undefined)[];
    diedInRound: number | null;
  }[];
}

const left = 64;
const right = 24;
const panelHeight = 210;
const panelGap = 70;
const font = 'font-family="Helvetica, Arial, sans-serif"';

export function renderSvg(input: ChartInput): string {
  const groupWidth = 28 + input.servers.length * 30;
  const width = Math.max(720, left + right + input.scenarios.length * groupWidth);
  const parts: string[] = [];
  let y = 64;
  parts.push(text(width / 2, 26, input.title, 'font-size="17" font-weight="bold"', "middle"));
  parts.push(text(width / 2, 46, input.subtitle, 'font-size="12" fill="#555"', "middle"));
  parts.push(legend(input.servers, width, y));
  y += 40;
  const bars = (
    title: string,
    pick: (s: ChartInput["scenarios"][number]) => Partial<Record<ServerName, number>>,
  ) => {
    parts.push(barPanel(input, title, pick, y, width, groupWidth));
    y += panelHeight + panelGap;
  };
  bars("Server CPU per delivery, µs (log scale)", (s) => s.cpuUsPerDelivery);
  bars("p99 latency, ms (log scale)", (s) => s.p99Ms);
  if (input.churn.length > 0) {
    parts.push(churnPanel(input, y, width));
    y += panelHeight + panelGap;
  }
  const height = y - panelGap + 44;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img">`,
    // Alternative text, for screen readers and biome's a11y rule on the committed copy.
    "<title>connect-chat side by side with a grpc-js server and a node:http2 server</title>",
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}

function barPanel(
  input: ChartInput,
  title: string,
  pick: (s: ChartInput["scenarios"][number]) => Partial<Record<ServerName, number>>,
  top: number,
  width: number,
  groupWidth: number,
): string {
  const out = [text(left, top - 12, title, 'font-size="13" font-weight="bold"')];
  const values = input.scenarios.flatMap((s) => Object.values(pick(s))).filter(positive);
  const bottom = top + panelHeight;
  if (values.length === 0) {
    out.push(
      text(width / 2, top + panelHeight / 2, "no data", 'font-size="12" fill="#888"', "middle"),
    );
    return out.join("\n");
  }
  // A decade below the smallest bar, so that no bar is left with (almost) no height.
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values) * 0.7));
  const hi = Math.max(lo * 10, 10 ** Math.ceil(Math.log10(Math.max(...values) * 1.6)));
  const yOf = (v: number) => bottom - (panelHeight * Math.log10(v / lo)) / Math.log10(hi / lo);
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    const gy = yOf(d).toFixed(1);
    out.push(`<line x1="${left}" x2="${width - right}" y1="${gy}" y2="${gy}" stroke="#ddd"/>`);
    out.push(text(left - 6, Number(gy) + 4, fmtAxis(d), 'font-size="11" fill="#555"', "end"));
  }
  const span = (width - left - right) / input.scenarios.length;
  const barWidth = Math.min(28, (groupWidth - 16) / input.servers.length);
  input.scenarios.forEach((scenario, g) => {
    const x0 = left + g * span + (span - barWidth * input.servers.length) / 2;
    input.servers.forEach((server, i) => {
      const v = pick(scenario)[server];
      const x = x0 + i * barWidth;
      const cx = (x + barWidth / 2).toFixed(1);
      if (!positive(v)) {
        const why = scenario.deliveredNothing.includes(server) ? "none" : "n/a";
        const colour = why === "none" ? serverColours[server] : "#888";
        out.push(text(Number(cx), bottom - 4, why, `font-size="9" fill="${colour}"`, "middle"));
        return;
      }
      const by = yOf(v);
      out.push(
        `<rect x="${(x + 1).toFixed(1)}" y="${by.toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${(bottom - by).toFixed(1)}" fill="${serverColours[server]}"><title>${esc(`${server}, ${scenario.name}: ${fmtValue(v)}`)}</title></rect>`,
      );
      out.push(text(Number(cx), by - 4, fmtValue(v), 'font-size="10"', "middle"));
    });
    out.push(text(left + (g + 0.5) * span, bottom + 16, scenario.name, 'font-size="12"', "middle"));
  });
  out.push(
    `<line x1="${left}" x2="${width - right}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`,
  );
  return out.join("\n");
}

function churnPanel(input: ChartInput, top: number, width: number): string {
  const out = [
    text(
      left,
      top - 12,
      "churn: server RSS after each round, MB (V8 heap limit 256 MB)",
      'font-size="13" font-weight="bold"',
    ),
  ];
  const bottom = top + panelHeight;
  const rounds = Math.max(...input.churn.map((c) => c.rssMb.length - 1), 1);
  const max = Math.max(...input.churn.flatMap((c) => c.rssMb).filter(positive), 1);
  const step = niceStep(max / 4);
  const hi = Math.ceil((max * 1.1) / step) * step;
  const xOf = (round: number) => left + 10 + ((width - left - right - 20) * round) / rounds;
  const yOf = (mb: number) => bottom - (panelHeight * mb) / hi;
  for (let v = 0; v <= hi; v += step) {
    const gy = yOf(v).toFixed(1);
    out.push(`<line x1="${left}" x2="${width - right}" y1="${gy}" y2="${gy}" stroke="#ddd"/>`);
    out.push(text(left - 6, Number(gy) + 4, String(v), 'font-size="11" fill="#555"', "end"));
  }
  for (let r = 0; r <= rounds; r++) {
    out.push(
      text(xOf(r), bottom + 16, r === 0 ? "start" : `round ${r}`, 'font-size="11"', "middle"),
    );
  }
  // Labels already placed per round, so that close lines put theirs below the point.
  const placed = new Map<number, number[]>();
  let deaths = 0;
  for (const c of input.churn) {
    const colour = serverColours[c.server];
    const points = c.rssMb.flatMap((v, r) => (positive(v) ? [[r, yOf(v), v] as const] : []));
    const path = points.map(([r, y]) => `${xOf(r).toFixed(1)},${y.toFixed(1)}`).join(" ");
    out.push(`<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const [r, y, v] of points) {
      const x = xOf(r);
      const taken = placed.get(r) ?? [];
      const above = y - 7;
      const ly = taken.some((t) => Math.abs(t - above) < 12) ? y + 15 : above;
      placed.set(r, [...taken, ly]);
      out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${colour}"/>`);
      out.push(text(x, ly, v.toFixed(0), `font-size="10" fill="${colour}"`, "middle"));
    }
    if (c.diedInRound !== null) {
      // At the top of the panel, one line per dead server, inside the panel at the last round.
      const anchor = c.diedInRound >= rounds ? "end" : "middle";
      const y = top + 14 + 14 * deaths++;
      const label = `✕ ${c.server} died in round ${c.diedInRound}`;
      out.push(
        text(
          xOf(c.diedInRound),
          y,
          label,
          `font-size="11" font-weight="bold" fill="${colour}"`,
          anchor,
        ),
      );
    }
  }
  out.push(
    `<line x1="${left}" x2="${width - right}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`,
  );
  return out.join("\n");
}

function legend(servers: readonly ServerName[], width: number, y: number): string {
  const itemWidth = 110;
  const x0 = (width - servers.length * itemWidth) / 2;
  return servers
    .map((s, i) => {
      const x = x0 + i * itemWidth;
      return `<rect x="${x}" y="${y - 10}" width="14" height="14" fill="${serverColours[s]}"/>${text(x + 20, y + 2, s, 'font-size="12"')}`;
    })
    .join("\n");
}

function text(x: number, y: number, s: string, attrs: string, anchor = "start"): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" text-anchor="${anchor}" ${font} ${attrs}>${esc(s)}</text>`;
}

const positive = (v: number | undefined): v is number =>
  v !== undefined && Number.isFinite(v) && v > 0;

const esc = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

function fmtValue(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function fmtAxis(v: number): string {
  return v >= 1000 ? `${v / 1000}k` : String(Number(v.toPrecision(1)));
}

/** 1, 2 or 5 times a power of ten, at least `raw`. */
function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}

/** The picture of `results`: traffic scenarios (idle ones have no deliveries) and churn. */
export function pictureOf(results: PeersResults, servers: readonly ServerName[]): string {
  const { info } = results;
  const quick = info.options.quick === true ? " (quick run: figures mean little)" : "";
  const traffic = [...results.byScenario].filter(
    ([, lines]) => ![...lines.values()].some((l) => l.mode === "idle"),
  );
  const figure = (
    lines: ReadonlyMap<ServerName, LoadgenLine>,
    f: (l: LoadgenLine) => number | undefined,
  ): Partial<Record<ServerName, number>> =>
    Object.fromEntries(
      servers.flatMap((s) => {
        const l = lines.get(s);
        const v = l !== undefined && measured(l) ? f(l) : undefined;
        return v === undefined ? [] : [[s, v]];
      }),
    );
  const mb = (kb: number | null | undefined) => (kb ? kb / 1024 : undefined);
  return renderSvg({
    title: `connect-chat vs peer servers, ${info.date.slice(0, 10)}${quick}`,
    subtitle: `${info.machine.cpuModel} ×${info.machine.cpuCount}, Node ${info.machine.node}; one grpc-js load generator for all; lower is better`,
    servers,
    scenarios: traffic.map(([name, lines]) => ({
      name,
      cpuUsPerDelivery: figure(lines, cpuPerDeliveryUs),
      p99Ms: figure(lines, (l) => l.latency_ms?.p99),
      deliveredNothing: servers.filter((s) => {
        const l = lines.get(s);
        return l !== undefined && measured(l) && !(Number(l.deliveries_per_s) > 0);
      }),
    })),
    churn: results.churns.map((c) => ({
      server: c.server,
      rssMb: [mb(c.start_rss_kb), ...c.rounds.map((r) => mb(r.rss_kb))],
      diedInRound: c.died_in_round,
    })),
  });
}
