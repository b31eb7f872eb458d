// IPv4 address and CIDR arithmetic for config validation and derived values (pod CIDRs per node,
// node addresses in the lab network, the first service IP). Pure functions, no dependencies.

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  readonly base: number
  readonly prefix: number
}

/** Decimal octets without leading zeros: iproute2 and inet_aton read 010 as octal 8. */
const IPV4 = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/

export function parseIPv4(text: string): number | undefined {
  const m = IPV4.exec(text)
  if (!m) return undefined
  const parts = m.slice(1).map(Number)
  if (parts.some((p) => p > 255)) return undefined
  return parts.reduce((acc, p) => acc * 256 + p, 0)
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

export type CidrParse = { ok: true; cidr: Cidr } | { ok: false; reason: string }

/** Parses `a.b.c.d/n`; host bits must be zero (the message suggests the network address). */
export function parseCidr(text: string): CidrParse {
  const slash = text.indexOf('/')
  if (slash < 0) return { ok: false, reason: 'must be an IPv4 CIDR such as 10.244.0.0/16 (no /prefix)' }
  const ip = parseIPv4(text.slice(0, slash))
  const prefixText = text.slice(slash + 1)
  const prefix = /^\d{1,2}$/.test(prefixText) ? Number(prefixText) : NaN
  if (ip === undefined) return { ok: false, reason: 'must be an IPv4 CIDR such as 10.244.0.0/16 (bad address: octets 0-255, no leading zeros)' }
  if (!(prefix >= 0 && prefix <= 32)) return { ok: false, reason: 'must be an IPv4 CIDR with a prefix length 0-32' }
  const base = (ip & maskOf(prefix)) >>> 0
  if (base !== ip) {
    return { ok: false, reason: `has host bits set; the network address is ${formatIPv4(base)}/${prefix}` }
  }
  return { ok: true, cidr: { base, prefix } }
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.base)}/${c.prefix}`
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix)
}

export function last(c: Cidr): number {
  return c.base + size(c) - 1
}

export function contains(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && inner.base >= outer.base && last(inner) <= last(outer)
}

export function containsIp(c: Cidr, ip: number): boolean {
  return ip >= c.base && ip <= last(c)
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= last(b) && b.base <= last(a)
}

/** The i-th subnet of `parent` with the longer prefix `prefix`, or undefined when out of range. */
export function subnet(parent: Cidr, prefix: number, i: number): Cidr | undefined {
  if (prefix < parent.prefix || prefix > 32) return undefined
  const count = 2 ** (prefix - parent.prefix)
  if (i < 0 || i >= count) return undefined
  return { base: parent.base + i * 2 ** (32 - prefix), prefix }
}

/** The n-th address in the range (1 = first host address). */
export function nthAddress(c: Cidr, n: number): number | undefined {
  return n >= 0 && n < size(c) ? c.base + n : undefined
}

/** An inclusive address range, as MetalLB's IPAddressPool takes it (`A-B` or a CIDR). */
export interface Range {
  readonly first: number
  readonly last: number
}

export type RangeParse = { ok: true; range: Range } | { ok: false; reason: string }

/** Parses `A-B` (first <= last) or `a.b.c.d/n`. */
export function parseRange(text: string): RangeParse {
  if (text.includes('/')) {
    const c = parseCidr(text)
    return c.ok ? { ok: true, range: { first: c.cidr.base, last: last(c.cidr) } } : c
  }
  const [a, b, extra] = text.split('-').map((x) => x.trim())
  const first = a === undefined ? undefined : parseIPv4(a)
  const end = b === undefined ? undefined : parseIPv4(b)
  if (extra !== undefined || first === undefined || end === undefined) return { ok: false, reason: 'must be an IPv4 range such as 10.213.0.224-10.213.0.254, or a CIDR' }
  if (end < first) return { ok: false, reason: `ends (${b}) before it starts (${a})` }
  return { ok: true, range: { first, last: end } }
}

export function formatRange(r: Range): string {
  return `${formatIPv4(r.first)}-${formatIPv4(r.last)}`
}

/** The upper eighth of a network without its broadcast address: 10.0.0.224-10.0.0.254 for 10.0.0.0/24. */
export function upperEighth(c: Cidr): Range {
  const n = size(c)
  return { first: c.base + n - Math.max(2, Math.floor(n / 8)), last: last(c) - 1 }
}
