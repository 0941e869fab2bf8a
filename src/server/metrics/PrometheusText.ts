/** One sample: its labels and value. */
export type Sample = [labels: Record<string, string>, value: number];

/** Builds a page of Prometheus' text exposition format (version 0.0.4). */
export class PrometheusText {
  private readonly lines: string[] = [];

  /** Adds a metric with its help text and samples (a bare number is one sample without labels). */
  add(name: string, type: "counter" | "gauge", help: string, samples: number | Sample[]): this {
    this.lines.push(`# HELP ${name} ${help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of typeof samples === "number" ? [[{}, samples] as Sample] : samples)
      this.lines.push(`${name}${labelText(labels)} ${formatValue(value)}`);
    return this;
  }

  toString(): string {
    return this.lines.join("\n") + "\n";
  }
}

function labelText(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(
    ([key, value]) => `${key}="${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`,
  );
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
