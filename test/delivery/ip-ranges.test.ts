/**
 * The address classifier of the SSRF guard (partner-api/net/ip-ranges.ts): every refused range with its
 * reason, the IPv4-in-IPv6 forms, and the edges of each range. target-policy.test.ts covers URLs and DNS.
 */
import ipaddr from 'ipaddr.js';

import { classifyAddress, describeRefusal } from '../../partner-api/net/ip-ranges';

describe('classifyAddress: spellings', () => {
  it.each([
    '172.15.255.255',
    '172.32.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '11.0.0.1',
    '9.255.255.255',
    '8.8.8.8',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
    '2002:808:808::1',
    '2a00:1450:4001::200e',
  ])('takes %s, just outside the refused ranges, as public', (address) => {
    expect(classifyAddress(address)).toEqual({ public: true });
  });

  it('judges an IPv6 address the same in its compressed, full and dotted forms, with brackets or a zone', () => {
    for (const same of ['0:0:0:0:0:ffff:7f00:1', '::ffff:127.0.0.1', '[::ffff:7f00:1]', '::FFFF:7F00:1']) {
      expect(classifyAddress(same)).toEqual({
        public: false,
        label: 'a loopback address',
        via: 'IPv4-mapped 127.0.0.1',
      });
    }
    expect(classifyAddress('fe80::1%eth0')).toEqual({ public: false, label: 'a link-local address' });
    expect(classifyAddress('[fe80::1%en0.1]')).toEqual({ public: false, label: 'a link-local address' });
    expect(classifyAddress('169.254.169.254%eth0')).toEqual({ public: false, label: 'a link-local address' });
    expect(classifyAddress('0:0:0:0:0:0:0:0')).toEqual({ public: false, label: 'an unspecified address' });
    expect(classifyAddress('2606:4700:0:0:0:0:0:1111')).toEqual({ public: true });
  });

  it.each([
    'example.com',
    '',
    '10.1',
    '1.2.3.4[',
    ']1.2.3.4',
    '[1.2.3.4]x',
    '2606:4700::1111[',
    ']2606:4700::1111',
    '0177.0.0.1',
    '1.2.3.4.5',
    '256.0.0.1',
    '::g',
    '1:2:3:4:5:6:7:8:9',
  ])('refuses %j as not an IP address (callers hand over canonical forms only)', (text) => {
    expect(classifyAddress(text)).toEqual({ public: false, label: 'not an IP address' });
  });
});

/**
 * Every refused range, pinned by an address inside it and the reason given, so dropping a range (or the library
 * reclassifying one) fails here. Registry: https://www.iana.org/assignments/iana-ipv4-special-registry and
 * iana-ipv6-special-registry.
 */
describe('classifyAddress: every refused range and its reason', () => {
  it.each([
    ['0.255.255.255', 'a "this network" address'], // 0.0.0.0/8
    ['10.255.255.255', 'a private address'], // 10.0.0.0/8
    ['100.64.0.0', 'a shared (carrier-grade NAT) address'], // 100.64.0.0/10
    ['127.255.255.254', 'a loopback address'], // 127.0.0.0/8
    ['169.254.0.1', 'a link-local address'], // 169.254.0.0/16
    ['172.16.0.0', 'a private address'], // 172.16.0.0/12
    ['192.0.0.8', 'a reserved (IETF protocol) address'], // 192.0.0.0/24
    ['192.0.2.255', 'a documentation address'], // 192.0.2.0/24 TEST-NET-1
    ['192.31.196.1', 'an AS112 (DNS sink) address'], // 192.31.196.0/24
    ['192.52.193.1', 'an AMT relay address'], // 192.52.193.0/24
    ['192.88.99.1', 'a reserved (6to4 relay) address'], // 192.88.99.0/24
    ['192.168.255.255', 'a private address'], // 192.168.0.0/16
    ['192.175.48.1', 'an AS112 (DNS sink) address'], // 192.175.48.0/24
    ['198.19.255.255', 'a benchmarking address'], // 198.18.0.0/15
    ['198.51.100.7', 'a documentation address'], // 198.51.100.0/24 TEST-NET-2
    ['203.0.113.9', 'a documentation address'], // 203.0.113.0/24 TEST-NET-3
    ['239.255.255.255', 'a multicast address'], // 224.0.0.0/4
    ['240.0.0.1', 'a reserved address'], // 240.0.0.0/4
    ['255.255.255.254', 'a reserved address'],
    ['255.255.255.255', 'the broadcast address'],
    ['::', 'an unspecified address'],
    ['::1', 'a loopback address'],
    ['::2', 'a reserved (IPv4-compatible) address'], // ::/96
    ['::8.8.8.8', 'a reserved (IPv4-compatible) address'],
    ['64:ff9b:1::1', 'a reserved (local NAT64) address'], // 64:ff9b:1::/48
    ['100::1', 'a reserved (discard) address'], // 100::/64
    ['2001::1', 'a reserved (IETF protocol) address'], // 2001::/32 Teredo, in 2001::/23
    ['2001:2::1', 'a benchmarking address'], // 2001:2::/48
    ['2001:3::1', 'an AMT relay address'], // 2001:3::/32
    ['2001:4:112::1', 'an AS112 (DNS sink) address'], // 2001:4:112::/48
    ['2620:4f:8000::1', 'an AS112 (DNS sink) address'], // 2620:4f:8000::/48
    ['2001:10::1', 'a reserved (ORCHID) address'], // 2001:10::/28
    ['2001:20::1', 'a reserved (ORCHID) address'], // 2001:20::/28 ORCHIDv2
    ['2001:30::1', 'a reserved (IETF protocol) address'], // 2001:30::/28 drone remote ID
    ['2001:1ff::1', 'a reserved (IETF protocol) address'], // the rest of 2001::/23
    ['2001:db8:ffff::1', 'a documentation address'], // 2001:db8::/32
    ['3fff:fff::1', 'a documentation address'], // 3fff::/20
    ['5f00::1', 'a reserved (segment routing) address'], // 5f00::/16
    ['fdff:ffff::1', 'a unique-local (private) address'], // fc00::/7
    ['febf::1', 'a link-local address'], // fe80::/10
    ['fec0::1', 'a site-local address'], // fec0::/10
    ['ff0e::1', 'a multicast address'], // ff00::/8
    ['4000::1', 'a reserved address'], // outside 2000::/3
    ['1fff:ffff::1', 'a reserved address'],
    ['e000::1', 'a reserved address'],
  ])('refuses %s: %s', (address, label) => {
    expect(classifyAddress(address)).toEqual({ public: false, label });
    expect(describeRefusal(address, { label })).toBe(`${address}, ${label}`);
  });

  it.each([
    ['::ffff:10.0.0.1', 'IPv4-mapped 10.0.0.1', 'a private address'], // ::ffff:0:0/96
    ['::ffff:0:a9fe:a9fe', 'IPv4-translated 169.254.169.254', 'a link-local address'], // ::ffff:0:0:0/96
    ['64:ff9b::7f00:1', 'NAT64 127.0.0.1', 'a loopback address'], // 64:ff9b::/96
    ['2002:a00:1::1', '6to4 10.0.0.1', 'a private address'], // 2002::/16, IPv4 in bits 16-48
    ['2002:c000:201::', '6to4 192.0.2.1', 'a documentation address'],
  ])('judges %s by the IPv4 address inside (%s)', (address, via, label) => {
    expect(classifyAddress(address)).toEqual({ public: false, label, via });
    expect(describeRefusal(address, { label, via })).toBe(`${address} (${via}), ${label}`);
  });

  it.each([
    '1.0.0.1',
    '192.0.1.0',
    '192.88.98.255',
    '198.17.255.255',
    '198.20.0.0',
    '198.51.99.255',
    '198.51.101.0',
    '203.0.112.255',
    '203.0.114.0',
    '223.255.255.255',
    '169.253.255.255',
    '126.255.255.255',
    '128.0.0.0',
    '::ffff:0:808:808',
    '2002:808:808::',
    '2000::1',
    '2001:200::1',
    '2001:db9::1',
    '3fff:1000::1',
    '3fff:ffff::1',
    '2620:4f:8001::1',
  ])('takes %s, at the edge of a refused range, as public', (address) => {
    expect(classifyAddress(address)).toEqual({ public: true });
  });
});

describe('classifyAddress: ranges a later ipaddr.js may name', () => {
  type Ranges = Record<string, unknown>;
  /** Adds a range to ipaddr.js's own table for one test, as a later version of the library might. */
  function withLibraryRange(family: 'IPv4' | 'IPv6', name: string, cidr: string, run: () => void): void {
    const table = (ipaddr[family].prototype as unknown as { SpecialRanges: Ranges }).SpecialRanges;
    const range = ipaddr[family].parseCIDR(cidr);
    const existing = table[name] as unknown[] | undefined;
    const restore = existing ? [...existing] : undefined;
    table[name] = existing ? [...(Array.isArray(existing[0]) ? existing : [existing]), range] : range;
    try {
      run();
    } finally {
      if (restore) table[name] = restore;
      else delete table[name];
    }
  }

  it('refuses an address in a range we have no words for, as reserved', () => {
    withLibraryRange('IPv4', 'futureService', '54.86.10.0/24', () => {
      expect(classifyAddress('54.86.10.1')).toEqual({ public: false, label: 'a reserved address' });
    });
    withLibraryRange('IPv6', 'futureService', '2606:4700::/32', () => {
      expect(classifyAddress('2606:4700::1111')).toEqual({ public: false, label: 'a reserved address' });
    });
    withLibraryRange('IPv6', 'reserved', '2a00:1450::/32', () => {
      expect(classifyAddress('2a00:1450:4001::200e')).toEqual({ public: false, label: 'a reserved address' });
    });
    expect(classifyAddress('54.86.10.1')).toEqual({ public: true });
    expect(classifyAddress('2a00:1450:4001::200e')).toEqual({ public: true });
  });
});
