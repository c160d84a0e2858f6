import type { Metric, Registry } from "prom-client";

/**
 * A histogram without labels that counts in place, for a value observed
 * once per delivery: `observe` is a bucket scan and three additions, with no
 * allocation. prom-client's own `Histogram.observe` builds and validates a
 * label object and hashes it on every call; at one call per delivery that
 * cost about a tenth of the server's burst throughput (issue 9, an A/B of
 * burst-100: 234k deliveries/s with this against 210k with prom-client's).
 *
 * It registers as a prom-client metric and is exported by the registry in
 * the same text as a prom-client `Histogram` with the same buckets
 * (`_bucket{le}` cumulative, `+Inf`, `_sum`, `_count`), so nothing
 * downstream can tell the two apart.
 */
export interface CountedHistogram {
  /** Counts one value (in the unit of the buckets). */
  observe(value: number): void;
}

export interface CountedHistogramOptions {
  name: string;
  help: string;
  /** Upper bounds, ascending, in the unit observed. */
  buckets: readonly number[];
  registry: Registry;
}

export function createCountedHistogram(options: CountedHistogramOptions): CountedHistogram {
  const histogram = new Counts(options.name, options.help, options.buckets);
  // The registry needs `name`, `get()` and `reset()`: what every prom-client metric has.
  options.registry.registerMetric(histogram as unknown as Metric);
  return histogram;
}

class Counts implements CountedHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly name: string;
  readonly help: string;
  private readonly bounds: readonly number[];
  /** Per bucket, not cumulative; the last one is `+Inf`. */
  private counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    (this.counts[i] as number)++;
    this.sum += value;
    this.count++;
  }

  /** What prom-client's registry formats, as a prom-client `Histogram` gives it. */
  get() {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] =
      [];
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += this.counts[i] as number;
      values.push({ metricName: `${this.name}_bucket`, labels: { le: bound }, value: cumulative });
    });
    values.push({ metricName: `${this.name}_bucket`, labels: { le: "+Inf" }, value: this.count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.count });
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }

  reset(): void {
    this.counts = new Float64Array(this.bounds.length + 1);
    this.sum = 0;
    this.count = 0;
  }
}
