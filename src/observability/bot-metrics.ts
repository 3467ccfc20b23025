// The bot's own health as Prometheus text exposition: counters and gauges, no library needed
// for this handful of series. Gauges are read at scrape time from callbacks.

type Labels = Readonly<Record<string, string>>;

interface Series {
  help: string;
  type: "counter" | "gauge";
  values: Map<string, number>;
  read?: () => number;
}

function labelKey(labels: Labels): string {
  const parts = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

export class BotMetrics {
  private readonly series = new Map<string, Series>();

  counter(name: string, help: string): (labels?: Labels, by?: number) => void {
    const s: Series = { help, type: "counter", values: new Map() };
    this.series.set(name, s);
    return (labels = {}, by = 1) => {
      const key = labelKey(labels);
      s.values.set(key, (s.values.get(key) ?? 0) + by);
    };
  }

  gauge(name: string, help: string, read: () => number): void {
    this.series.set(name, { help, type: "gauge", values: new Map(), read });
  }

  value(name: string, labels: Labels = {}): number {
    const s = this.series.get(name);
    if (!s) return 0;
    return s.read ? s.read() : (s.values.get(labelKey(labels)) ?? 0);
  }

  render(): string {
    const out: string[] = [];
    for (const [name, s] of this.series) {
      out.push(`# HELP ${name} ${s.help}`, `# TYPE ${name} ${s.type}`);
      if (s.read) out.push(`${name} ${s.read()}`);
      else if (s.values.size === 0) out.push(`${name} 0`);
      else for (const [k, v] of s.values) out.push(`${name}${k} ${v}`);
    }
    return `${out.join("\n")}\n`;
  }
}
