/**
 * Which IP addresses a webhook may be sent to. Only globally reachable unicast addresses are public; every
 * special-purpose range (IANA's IPv4 and IPv6 special-purpose registries) is refused, and IPv6 forms that
 * carry an IPv4 address inside (mapped, NAT64, 6to4) are judged by that IPv4 address, so `::ffff:127.0.0.1`
 * is as loopback as `127.0.0.1`.
 */
import net from 'node:net';

/** `label` finishes a sentence ("…, a private address"); `via` names the IPv4 address inside an IPv6 form. */
export type AddressVerdict = { public: true } | { public: false; label: string; via?: string };

interface Range {
  bytes: number[];
  prefix: number;
  label: string;
}

function range(cidr: string, label: string): Range {
  const [address, prefix] = cidr.split('/') as [string, string];
  const bytes = net.isIPv4(address) ? parseIPv4(address) : parseIPv6(address);
  if (!bytes) throw new Error(`bad range ${cidr}`);
  return { bytes, prefix: Number(prefix), label };
}

const IPV4_REFUSED: Range[] = [
  range('0.0.0.0/8', 'a "this network" address'),
  range('10.0.0.0/8', 'a private address'),
  range('100.64.0.0/10', 'a shared (carrier-grade NAT) address'),
  range('127.0.0.0/8', 'a loopback address'),
  range('169.254.0.0/16', 'a link-local address'),
  range('172.16.0.0/12', 'a private address'),
  range('192.0.0.0/24', 'a reserved (IETF protocol) address'),
  range('192.0.2.0/24', 'a documentation address'),
  range('192.88.99.0/24', 'a reserved (6to4 relay) address'),
  range('192.168.0.0/16', 'a private address'),
  range('198.18.0.0/15', 'a benchmarking address'),
  range('198.51.100.0/24', 'a documentation address'),
  range('203.0.113.0/24', 'a documentation address'),
  range('224.0.0.0/4', 'a multicast address'),
  range('255.255.255.255/32', 'the broadcast address'),
  range('240.0.0.0/4', 'a reserved address'),
];

/** IPv6 forms whose last 32 bits (or, for 6to4, bits 16-48) are an IPv4 address that decides. */
const IPV6_EMBEDDING: { range: Range; v4Offset: number; name: string }[] = [
  { range: range('::ffff:0:0/96', ''), v4Offset: 12, name: 'IPv4-mapped' },
  { range: range('::ffff:0:0:0/96', ''), v4Offset: 12, name: 'IPv4-translated' },
  { range: range('64:ff9b::/96', ''), v4Offset: 12, name: 'NAT64' },
  { range: range('2002::/16', ''), v4Offset: 2, name: '6to4' },
];

const IPV6_REFUSED: Range[] = [
  range('::/128', 'an unspecified address'),
  range('::1/128', 'a loopback address'),
  range('::/96', 'a reserved (IPv4-compatible) address'),
  range('64:ff9b:1::/48', 'a reserved (local NAT64) address'),
  range('100::/64', 'a reserved (discard) address'),
  range('2001::/23', 'a reserved (IETF protocol) address'),
  range('2001:db8::/32', 'a documentation address'),
  range('3fff::/20', 'a documentation address'),
  range('fc00::/7', 'a unique-local (private) address'),
  range('fe80::/10', 'a link-local address'),
  range('fec0::/10', 'a site-local address'),
  range('ff00::/8', 'a multicast address'),
];

/** Global unicast: everything outside it is reserved, whatever the registry adds later. */
const IPV6_GLOBAL_UNICAST = range('2000::/3', '');

export function classifyAddress(address: string): AddressVerdict {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const v4 = net.isIPv4(bare) ? parseIPv4(bare) : null;
  if (v4) return classifyIPv4(v4);
  const v6 = net.isIPv6(bare) ? parseIPv6(bare) : null;
  if (!v6) return { public: false, label: 'not an IP address' };
  for (const { range: r, v4Offset, name } of IPV6_EMBEDDING) {
    if (!contains(r, v6)) continue;
    const inner = v6.slice(v4Offset, v4Offset + 4);
    const verdict = classifyIPv4(inner);
    return verdict.public ? verdict : { public: false, label: verdict.label, via: `${name} ${inner.join('.')}` };
  }
  const refused = IPV6_REFUSED.find((r) => contains(r, v6));
  if (refused) return { public: false, label: refused.label };
  if (!contains(IPV6_GLOBAL_UNICAST, v6)) return { public: false, label: 'a reserved address' };
  return { public: true };
}

/** "10.0.0.5, a private address" or "::ffff:7f00:1 (IPv4-mapped 127.0.0.1), a loopback address". */
export function describeRefusal(address: string, verdict: { label: string; via?: string }): string {
  return verdict.via ? `${address} (${verdict.via}), ${verdict.label}` : `${address}, ${verdict.label}`;
}

function classifyIPv4(bytes: number[]): AddressVerdict {
  const refused = IPV4_REFUSED.find((r) => contains(r, bytes));
  return refused ? { public: false, label: refused.label } : { public: true };
}

function contains(r: Range, bytes: number[]): boolean {
  if (r.bytes.length !== bytes.length) return false;
  let bits = r.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((bytes[i] ?? 0) & mask) !== ((r.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

/** Dotted-quad only: callers hand over addresses from DNS or from WHATWG URL, which normalises other forms. */
export function parseIPv4(text: string): number[] | null {
  if (!net.isIPv4(text)) return null;
  return text.split('.').map(Number);
}

export function parseIPv6(text: string): number[] | null {
  if (!net.isIPv6(text)) return null;
  let head = text;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (dotted !== undefined) {
    tail.push(...(parseIPv4(dotted) ?? []));
    head = text.slice(0, -dotted.length);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const groups = (s: string | undefined) => (s ? s.split(':').filter((g) => g !== '') : []);
  const l = groups(left);
  const r = groups(right);
  const missing = 8 - tail.length / 2 - l.length - r.length;
  const all = [...l, ...Array<string>(right === undefined ? 0 : missing).fill('0'), ...r];
  const bytes: number[] = [];
  for (const g of all) {
    const v = parseInt(g, 16);
    bytes.push(v >> 8, v & 0xff);
  }
  bytes.push(...tail);
  return bytes.length === 16 ? bytes : null;
}
