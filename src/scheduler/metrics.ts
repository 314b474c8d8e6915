/**
 * Prometheus counters of the scheduler, rendered in the text exposition format. A handful of
 * series per schedule; no client library needed for that.
 */

type Labels = Readonly<Record<string, string>>;

const HELP: Readonly<Record<string, [string, 'counter' | 'gauge']>> = {
  k2hdkc_scheduler_runs_total: ['Schedule firings (each ends created, skipped or failed).', 'counter'],
  k2hdkc_scheduler_backups_created_total: ['Backups created through the Trove API.', 'counter'],
  k2hdkc_scheduler_skips_total: ['Firings skipped; reason backup_running or in_progress.', 'counter'],
  k2hdkc_scheduler_failures_total: ['Failures by stage: create, backup, wait, retention.', 'counter'],
  k2hdkc_scheduler_deletions_total: ['Backups deleted by retention.', 'counter'],
  k2hdkc_scheduler_last_success_timestamp_seconds: ['When a scheduled backup last reached COMPLETED.', 'gauge'],
};

export type MetricName = keyof typeof HELP & string;

export class SchedulerMetrics {
  private readonly values = new Map<string, { name: string; labels: Labels; value: number }>();

  inc(name: MetricName, labels: Labels, by = 1): void {
    const entry = this.entry(name, labels);
    entry.value += by;
  }

  set(name: MetricName, labels: Labels, value: number): void {
    this.entry(name, labels).value = value;
  }

  /** The current value (0 when never touched); for tests and the health summary. */
  get(name: MetricName, labels: Labels): number {
    return this.values.get(key(name, labels))?.value ?? 0;
  }

  /** Text exposition format 0.0.4. */
  render(): string {
    const lines: string[] = [];
    for (const [name, [help, type]] of Object.entries(HELP)) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const entry of this.values.values()) {
        if (entry.name !== name) continue;
        const labels = Object.entries(entry.labels)
          .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`)
          .join(',');
        lines.push(`${name}{${labels}} ${entry.value}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }

  private entry(name: string, labels: Labels): { name: string; labels: Labels; value: number } {
    const k = key(name, labels);
    let entry = this.values.get(k);
    if (!entry) {
      entry = { name, labels: { ...labels }, value: 0 };
      this.values.set(k, entry);
    }
    return entry;
  }
}

function key(name: string, labels: Labels): string {
  return `${name}${JSON.stringify(Object.entries(labels).sort())}`;
}
