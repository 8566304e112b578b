/** Workspace plans, and which of them include the Zapier integration (the spec: "requires a Pro plan or higher"). */
export const PLANS = ['free', 'starter', 'pro', 'business', 'enterprise'] as const;
export type Plan = (typeof PLANS)[number];
/** The Zapier integration is gated to Pro and above. */
export const INTEGRATION_PLANS: readonly Plan[] = ['pro', 'business', 'enterprise'];

/** True for one of PLANS' names, exactly. */
export function isPlan(value: string): value is Plan {
  return (PLANS as readonly string[]).includes(value);
}

/** True when a workspace on `plan` may use the integration: its events are delivered, its keys admitted. */
export function hasIntegration(plan: Plan): boolean {
  return INTEGRATION_PLANS.includes(plan);
}
