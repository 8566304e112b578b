/**
 * Where IllumiChat may send webhooks: https URLs whose host resolves only to public addresses. Checked twice:
 * once when a subscription is made (checkTarget, so the caller gets a clear 422), and again on every new
 * connection (createGuardedLookup), because DNS can answer differently later (DNS rebinding).
 * `allowPrivate` (ILLUMICHAT_ALLOW_PRIVATE_TARGETS) lifts both checks for local development and tests.
 */
import dns from 'node:dns';
import net from 'node:net';

import { classifyAddress, describeRefusal } from './ip-ranges';

export type TargetVerdict = { ok: true } | { ok: false; reason: string };

/** All the addresses a hostname resolves to. Injectable so tests can make any name resolve anywhere. */
export type Resolve = (hostname: string) => Promise<dns.LookupAddress[]>;

export const systemResolve: Resolve = (hostname) => dns.promises.lookup(hostname, { all: true, order: 'verbatim' });

const MAX_URL_LENGTH = 2048;

export async function checkTarget(
  url: string,
  opts: { allowPrivate: boolean; resolve?: Resolve },
): Promise<TargetVerdict> {
  if (url.length > MAX_URL_LENGTH) return refuse(`target_url is longer than ${MAX_URL_LENGTH} characters`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return refuse('target_url is not a valid URL');
  }
  const httpAllowed = opts.allowPrivate && parsed.protocol === 'http:';
  if (parsed.protocol !== 'https:' && !httpAllowed) return refuse('target_url must use https');
  if (parsed.username || parsed.password) return refuse('target_url must not contain a user name or password');
  if (opts.allowPrivate) return { ok: true };

  // WHATWG URL has already turned 2130706433, 0177.0.0.1, 0x7f.1 and 127.1 into 127.0.0.1 for https hosts.
  const host = hostOf(parsed);
  if (net.isIP(host)) {
    const verdict = classifyAddress(host);
    return verdict.public ? { ok: true } : refuse(`target_url points at ${describeRefusal(host, verdict)}`);
  }
  let addresses: dns.LookupAddress[];
  try {
    addresses = await (opts.resolve ?? systemResolve)(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return refuse(
      code === 'ENOTFOUND' || code === 'ENODATA'
        ? `target_url host ${host} does not resolve`
        : `target_url host ${host} could not be resolved (${code ?? 'error'}); try again`,
    );
  }
  if (addresses.length === 0) return refuse(`target_url host ${host} does not resolve`);
  const refusal = firstRefusal(addresses.map((a) => a.address));
  return refusal ? refuse(`target_url host ${host} resolves to ${refusal}`) : { ok: true };
}

/** The URL's host as node:net wants it: IPv6 literals without their brackets. */
export function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** "10.0.0.5, a private address" for the first non-public address, or null when every one is public. */
export function firstRefusal(addresses: string[]): string | null {
  for (const address of addresses) {
    const verdict = classifyAddress(address);
    if (!verdict.public) return describeRefusal(address, verdict);
  }
  return null;
}

/** Raised (as a connection error) when a connection would reach a non-public address. */
export class TargetRefusedError extends Error {
  readonly code = 'ERR_TARGET_REFUSED';
}

/**
 * A `lookup` for http(s).request / net.connect. With `guard`, it refuses to hand back a non-public address,
 * so the socket never opens. Node asks with `all: true` when it races address families (the default since
 * Node 20). Literal IP hosts never reach a lookup: callers check those with firstRefusal before connecting.
 */
export function createLookup(opts: { guard: boolean; resolve?: Resolve | undefined }): net.LookupFunction {
  const resolve = opts.resolve ?? systemResolve;
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (all) => {
        const family = familyOf(options.family);
        const usable = family ? all.filter((a) => a.family === family) : all;
        if (usable.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`${hostname} does not resolve`);
          err.code = 'ENOTFOUND';
          return callback(err, '', 0);
        }
        const refusal = opts.guard ? firstRefusal(all.map((a) => a.address)) : null;
        if (refusal) return callback(new TargetRefusedError(`${hostname} resolves to ${refusal}`), '', 0);
        if (options.all) return callback(null, usable);
        const [first] = usable as [(typeof usable)[number]]; // not empty: checked above
        callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

function familyOf(family: number | string | undefined): 0 | 4 | 6 {
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

function refuse(reason: string): TargetVerdict {
  return { ok: false, reason };
}
