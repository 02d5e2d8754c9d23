// Counters and histograms for the hot path, registered in a prom-client registry (which writes the
// exposition text) but counting into plain numbers and typed arrays: a child is bound to its label
// values once, and an observation is a bucket search and three additions. prom-client's own
// children validate and hash their label set on every inc() and observe() (about 600 ns for an inc
// plus an observe on this machine, paid by every request); these cost a few tens of ns.
import type { Metric, Registry } from "prom-client";

type Labels = Record<string, string>;

interface SampleValue {
  value: number;
  labels: Labels;
  metricName?: string;
}

interface MetricObject {
  name: string;
  help: string;
  type: "counter" | "histogram";
  values: SampleValue[];
  aggregator: "sum";
}

function labelsOf(names: readonly string[], values: readonly string[]): Labels {
  const labels: Labels = {};
  names.forEach((name, index) => {
    labels[name] = values[index] ?? "";
  });
  return labels;
}

export class CounterChild {
  value = 0;
  readonly labels: Labels;

  constructor(labels: Labels) {
    this.labels = labels;
  }

  inc(amount = 1): void {
    this.value += amount;
  }
}

export class HistogramChild {
  readonly labels: Labels;
  readonly bounds: Float64Array;
  /** Per bucket (not cumulative); the last is +Inf. */
  readonly counts: Float64Array;
  count = 0;
  sum = 0;

  constructor(labels: Labels, bounds: Float64Array) {
    this.labels = labels;
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let index = 0;
    while (index < bounds.length && value > bounds[index]!) index++;
    this.counts[index]!++;
    this.count++;
    this.sum += value;
  }

  /** Cumulative counts at each finite bound. */
  cumulative(): number[] {
    const result: number[] = [];
    let total = 0;
    for (let index = 0; index < this.bounds.length; index++) {
      total += this.counts[index]!;
      result.push(total);
    }
    return result;
  }
}

abstract class BoundMetric<Child extends { labels: Labels }> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly #children = new Map<string, Child>();

  constructor(registry: Registry, options: { name: string; help: string; labelNames: readonly string[] }) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    // The registry only calls get() (and reads name): what every prom-client metric provides.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The child of these label values (in labelNames order): made on first use, then the same object. */
  labels(...values: string[]): Child {
    const key = values.join("\u0000");
    let child = this.#children.get(key);
    if (child === undefined) {
      child = this.create(labelsOf(this.labelNames, values));
      this.#children.set(key, child);
    }
    return child;
  }

  remove(...values: string[]): void {
    this.#children.delete(values.join("\u0000"));
  }

  children(): IterableIterator<Child> {
    return this.#children.values();
  }

  protected abstract create(labels: Labels): Child;
}

export class BoundCounter extends BoundMetric<CounterChild> {
  protected create(labels: Labels): CounterChild {
    return new CounterChild(labels);
  }

  get(): Promise<MetricObject> {
    const values = [...this.children()].map((child) => ({ value: child.value, labels: child.labels }));
    return Promise.resolve({ name: this.name, help: this.help, type: "counter", values, aggregator: "sum" });
  }
}

export class BoundHistogram extends BoundMetric<HistogramChild> {
  readonly #bounds: Float64Array;

  constructor(registry: Registry, options: { name: string; help: string; labelNames: readonly string[]; buckets: readonly number[] }) {
    super(registry, options);
    this.#bounds = Float64Array.from(options.buckets);
  }

  protected create(labels: Labels): HistogramChild {
    return new HistogramChild(labels, this.#bounds);
  }

  get(): Promise<MetricObject> {
    const values: SampleValue[] = [];
    for (const child of this.children()) {
      const cumulative = child.cumulative();
      this.#bounds.forEach((bound, index) => values.push({ value: cumulative[index]!, labels: { le: String(bound), ...child.labels }, metricName: `${this.name}_bucket` }));
      values.push({ value: child.count, labels: { le: "+Inf", ...child.labels }, metricName: `${this.name}_bucket` });
      values.push({ value: child.sum, labels: child.labels, metricName: `${this.name}_sum` });
      values.push({ value: child.count, labels: child.labels, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: "histogram", values, aggregator: "sum" });
  }
}
