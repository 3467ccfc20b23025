// Planning a rollout, pure: which hosts go in which stage, and how many failures a stage may take.
// Canaries first (through every step), then the rest in batches.

export type Amount = number | `${number}%`;

export interface Stage {
  readonly name: string;
  readonly kind: "canary" | "batch";
  readonly hosts: readonly string[];
}

/** A count, or a percentage of `of` (rounded up, at least 1 host when the percentage is above 0). */
export function resolveAmount(amount: Amount, of: number): number {
  if (typeof amount === "number") return amount;
  const pct = Number(amount.slice(0, -1));
  if (pct <= 0) return 0;
  return Math.min(of, Math.max(1, Math.ceil((pct / 100) * of)));
}

/**
 * Stages for hosts in inventory order: the canaries that are among them first (if any), then batches
 * of batchSize. A batch size of 0 or more than the remaining hosts means one batch.
 */
export function planStages(hosts: readonly string[], canaries: readonly string[], batchSize: Amount): Stage[] {
  const canarySet = new Set(canaries);
  const first = hosts.filter((h) => canarySet.has(h));
  const rest = hosts.filter((h) => !canarySet.has(h));
  const stages: Stage[] = [];
  if (first.length) stages.push({ name: "canaries", kind: "canary", hosts: first });
  const size = resolveAmount(batchSize, rest.length) || rest.length;
  for (let i = 0; i < rest.length; i += size) {
    const n = stages.filter((s) => s.kind === "batch").length + 1;
    stages.push({ name: `batch ${n}`, kind: "batch", hosts: rest.slice(i, i + size) });
  }
  return stages;
}

/** Failures a stage of `size` hosts may take before the rollout halts. */
export function failureBudget(budget: Amount, size: number): number {
  return typeof budget === "number" ? budget : Math.floor((Number(budget.slice(0, -1)) / 100) * size);
}
