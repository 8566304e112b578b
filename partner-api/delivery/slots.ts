/**
 * Delivery slots: how many attempts may be in flight at once, and who may hold them.
 *
 * An attempt to an endpoint that never answers holds its slot for the whole timeout (10 s), and slots
 * cannot be taken back. So no one may hold more than a share: at most `perWorkspace` attempts per
 * workspace, `perHost` per target host (scheme, host and port), `perSubscription` per subscription, and
 * `overall` in all. With the defaults (128, 256, 32 of 512) a workspace whose endpoints all hang holds a
 * quarter of the slots and every other workspace keeps the rest; a host that hangs for every workspace holds
 * half. Issue 8 §3: one workspace's 16 hanging endpoints took all 256 slots and delayed another's
 * deliveries from 72 ms to 6-16 s.
 */

export interface SlotLimits {
  overall: number;
  perWorkspace: number;
  perHost: number;
  perSubscription: number;
}

/** Whose slot an attempt takes: the shares it counts against. */
export interface SlotHolder {
  subscriptionId: string;
  workspaceId: string;
  /** hostKey(targetUrl). */
  host: string;
}

export interface Slots {
  /** Attempts holding a slot now. */
  readonly inUse: number;
  /** Slots free overall. */
  readonly free: number;
  /** How many more attempts may start for this holder now: the least room left in any of its shares. */
  room(holder: SlotHolder): number;
  take(holder: SlotHolder): void;
  release(holder: SlotHolder): void;
}

/** The host share a target URL counts against: `scheme://host:port`, lower-cased; the URL itself if unparsable. */
export function hostKey(targetUrl: string): string {
  try {
    return new URL(targetUrl).origin;
  } catch {
    return targetUrl;
  }
}

/** The holder of a delivery to `targetUrl` for the subscription and workspace named. */
export function slotHolder(of: { subscriptionId: string; workspaceId: string; targetUrl: string }): SlotHolder {
  return { subscriptionId: of.subscriptionId, workspaceId: of.workspaceId, host: hostKey(of.targetUrl) };
}

export function createSlots(limits: SlotLimits): Slots {
  let inUse = 0;
  const bySubscription = new Map<string, number>();
  const byWorkspace = new Map<string, number>();
  const byHost = new Map<string, number>();

  const count = (map: Map<string, number>, key: string) => map.get(key) ?? 0;
  const add = (map: Map<string, number>, key: string, delta: number) => {
    const next = count(map, key) + delta;
    if (next > 0) map.set(key, next);
    else map.delete(key);
  };

  return {
    get inUse() {
      return inUse;
    },
    get free() {
      return limits.overall - inUse;
    },
    room: (h) =>
      Math.min(
        limits.overall - inUse,
        limits.perWorkspace - count(byWorkspace, h.workspaceId),
        limits.perHost - count(byHost, h.host),
        limits.perSubscription - count(bySubscription, h.subscriptionId),
      ),
    take(h) {
      inUse += 1;
      add(bySubscription, h.subscriptionId, 1);
      add(byWorkspace, h.workspaceId, 1);
      add(byHost, h.host, 1);
    },
    release(h) {
      inUse -= 1;
      add(bySubscription, h.subscriptionId, -1);
      add(byWorkspace, h.workspaceId, -1);
      add(byHost, h.host, -1);
    },
  };
}
