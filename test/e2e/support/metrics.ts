import * as http2 from "node:http2";

/** One sample line of the Prometheus text format: `name{label="value",...} 12`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a `/metrics` body (comments skipped). Label values must not contain `,` or `}`. */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").split(",").filter(Boolean)) {
      const eq = pair.indexOf("=");
      labels[pair.slice(0, eq)] = JSON.parse(pair.slice(eq + 1)) as string;
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/**
 * The value of the sample named `name` whose labels include `labels`, summed
 * over all that match; 0 when none does (a labelled counter not yet touched).
 */
export function sampleValue(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** `GET baseUrl + path` over HTTP/1.1 (fetch). */
export async function getHttp1(
  baseUrl: string,
  path: string,
): Promise<{ status: number; contentType: string; body: string }> {
  const res = await fetch(new URL(path, baseUrl), { signal: AbortSignal.timeout(5000) });
  return {
    status: res.status,
    contentType: res.headers.get("content-type") ?? "",
    body: await res.text(),
  };
}

/** `GET baseUrl + path` over h2c, on a connection of its own. */
export function getH2c(
  baseUrl: string,
  path: string,
): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(baseUrl);
    session.on("error", reject);
    const stream = session.request({ ":method": "GET", ":path": path });
    const chunks: Buffer[] = [];
    let headers: http2.IncomingHttpHeaders = {};
    stream.on("response", (h) => {
      headers = h;
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", reject);
    stream.on("end", () => {
      session.close();
      resolve({
        status: Number(headers[":status"]),
        contentType: String(headers["content-type"] ?? ""),
        body: Buffer.concat(chunks).toString("utf8"),
      });
    });
    stream.setTimeout(5000, () => {
      session.destroy();
      reject(new Error(`no answer to GET ${path} over h2c in 5 s`));
    });
  });
}

/** The samples of the server's `/metrics`, read over HTTP/1.1. */
export async function scrape(baseUrl: string): Promise<Sample[]> {
  const { status, body } = await getHttp1(baseUrl, "/metrics");
  if (status !== 200) throw new Error(`GET /metrics answered ${status}: ${body}`);
  return parseMetrics(body);
}
