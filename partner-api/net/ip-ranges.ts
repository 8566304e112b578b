/**
 * Which IP addresses a webhook may be sent to. ipaddr.js (the library Express relies on for proxy addresses)
 * parses the address and names its special-purpose range (IANA's IPv4 and IPv6 special-purpose registries);
 * the policy here is ours: only what it calls plain `unicast` is public (for IPv6, only inside global unicast
 * 2000::/3), every named range is refused with a reason a person can act on, and IPv6 forms that carry an IPv4
 * address inside (mapped, translated, NAT64, 6to4) are judged by that IPv4 address, so `::ffff:127.0.0.1` is as
 * loopback as `127.0.0.1`.
 */
import ipaddr from 'ipaddr.js';

/** `label` finishes a sentence ("…, a private address"); `via` names the IPv4 address inside an IPv6 form. */
export type AddressVerdict = { public: true } | { public: false; label: string; via?: string };

type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;
type Words<T> = Record<string, [T, number][]>;

/** The reason for each range ipaddr.js names; a name missing here (one a later version adds) is still refused. */
const IPV4_REASONS: Record<string, string> = {
  unspecified: 'a "this network" address',
  private: 'a private address',
  carrierGradeNat: 'a shared (carrier-grade NAT) address',
  loopback: 'a loopback address',
  linkLocal: 'a link-local address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  as112: 'an AS112 (DNS sink) address',
  amt: 'an AMT relay address',
};

/** ipaddr.js files these under `reserved`; IANA's registry says more precisely what they are for. */
const IPV4_RESERVED_WORDS: Words<IPv4> = {
  'a reserved (IETF protocol) address': [v4('192.0.0.0/24')],
  'a documentation address': [v4('192.0.2.0/24'), v4('198.51.100.0/24'), v4('203.0.113.0/24')],
  'a reserved (6to4 relay) address': [v4('192.88.99.0/24')],
  'a benchmarking address': [v4('198.18.0.0/15')],
};

const IPV6_REASONS: Record<string, string> = {
  unspecified: 'an unspecified address',
  loopback: 'a loopback address',
  discard: 'a reserved (discard) address',
  rfc6052: 'a reserved (local NAT64) address', // 64:ff9b:1::/48; 64:ff9b::/96 is NAT64, judged by its IPv4
  teredo: 'a reserved (IETF protocol) address',
  benchmarking: 'a benchmarking address',
  amt: 'an AMT relay address',
  as112v6: 'an AS112 (DNS sink) address',
  deprecatedOrchid: 'a reserved (ORCHID) address',
  orchid2: 'a reserved (ORCHID) address',
  droneRemoteIdProtocolEntityTags: 'a reserved (IETF protocol) address',
  segmentRouting: 'a reserved (segment routing) address',
  uniqueLocal: 'a unique-local (private) address',
  linkLocal: 'a link-local address',
  deprecatedSiteLocal: 'a site-local address',
  multicast: 'a multicast address',
};

const IPV6_RESERVED_WORDS: Words<IPv6> = {
  'a documentation address': [v6('2001:db8::/32'), v6('3fff::/20')],
  'a reserved (IETF protocol) address': [v6('2001::/23')],
};

/** IPv6 forms whose IPv4 address decides, and which 16-bit parts hold it. */
const IPV6_EMBEDDING: { range: [IPv6, number]; parts: number; name: string }[] = [
  { range: v6('::ffff:0:0/96'), parts: 6, name: 'IPv4-mapped' },
  { range: v6('::ffff:0:0:0/96'), parts: 6, name: 'IPv4-translated' },
  { range: v6('64:ff9b::/96'), parts: 6, name: 'NAT64' },
  { range: v6('2002::/16'), parts: 1, name: '6to4' },
];

/** Global unicast: everything outside it is reserved, whatever the registry adds later. */
const IPV6_GLOBAL_UNICAST = v6('2000::/3');
const IPV6_IPV4_COMPATIBLE = v6('::/96');

/**
 * The verdict on one address: an IPv4 dotted quad or an IPv6 address (brackets and a %zone allowed), as DNS or
 * WHATWG URL hand them over. Anything else is refused as "not an IP address".
 */
export function classifyAddress(address: string): AddressVerdict {
  const bare = address.replace(/^\[|\]$/g, '').split('%')[0] as string; // a zone (%eth0) never changes the verdict
  // IPv6 always has a colon, IPv4 never; deciding first spares ipaddr.js's IPv4 parser a slow miss (~57 µs).
  if (!bare.includes(':')) {
    return ipaddr.IPv4.isValidFourPartDecimal(bare)
      ? classifyIPv4(ipaddr.IPv4.parse(bare))
      : { public: false, label: 'not an IP address' };
  }
  // ipaddr.js reads "::1.2.3.4" as IPv4-mapped (::ffff:1.2.3.4); it is IPv4-compatible (::102:304), and
  // "0::1.2.3.4", the same address, it reads right.
  const v6text = bare.startsWith('::') ? `0${bare}` : bare;
  const v6addr = parseIPv6(v6text);
  if (!v6addr) return { public: false, label: 'not an IP address' };
  for (const { range, parts, name } of IPV6_EMBEDDING) {
    if (!v6addr.match(range)) continue;
    const [high, low] = v6addr.parts.slice(parts, parts + 2) as [number, number];
    const inner = new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
    const verdict = classifyIPv4(inner);
    return verdict.public ? verdict : { public: false, label: verdict.label, via: `${name} ${inner.toString()}` };
  }
  return classifyIPv6(v6addr);
}

/** "10.0.0.5, a private address" or "::ffff:7f00:1 (IPv4-mapped 127.0.0.1), a loopback address". */
export function describeRefusal(address: string, verdict: { label: string; via?: string }): string {
  return verdict.via ? `${address} (${verdict.via}), ${verdict.label}` : `${address}, ${verdict.label}`;
}

function classifyIPv4(address: IPv4): AddressVerdict {
  const range = address.range();
  if (range === 'unicast') return { public: true };
  const label =
    range === 'reserved' ? ipaddr.subnetMatch(address, IPV4_RESERVED_WORDS, 'a reserved address') : IPV4_REASONS[range];
  return { public: false, label: label ?? 'a reserved address' };
}

function classifyIPv6(address: IPv6): AddressVerdict {
  const range: string = address.range();
  if (range === 'reserved')
    return { public: false, label: ipaddr.subnetMatch(address, IPV6_RESERVED_WORDS, 'a reserved address') };
  if (range !== 'unicast') return { public: false, label: IPV6_REASONS[range] ?? 'a reserved address' };
  if (address.match(IPV6_IPV4_COMPATIBLE)) return { public: false, label: 'a reserved (IPv4-compatible) address' };
  if (!address.match(IPV6_GLOBAL_UNICAST)) return { public: false, label: 'a reserved address' };
  return { public: true };
}

/** One parse (isValid and then parse would read the text twice); null when it is not IPv6. */
function parseIPv6(text: string): IPv6 | null {
  try {
    return ipaddr.IPv6.parse(text);
  } catch {
    return null;
  }
}

function v4(cidr: string): [IPv4, number] {
  return ipaddr.IPv4.parseCIDR(cidr);
}

function v6(cidr: string): [IPv6, number] {
  return ipaddr.IPv6.parseCIDR(cidr);
}
