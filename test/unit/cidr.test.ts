import test from 'ava'
import * as cidr from '../../scripts/lib/config/cidr.ts'

const c = (s: string) => {
  const p = cidr.parseCidr(s)
  if (!p.ok) throw new Error(p.reason)
  return p.cidr
}

test('parse and format', (t) => {
  t.is(cidr.formatCidr(c('10.244.0.0/16')), '10.244.0.0/16')
  t.is(cidr.parseIPv4('256.0.0.1'), undefined)
  t.is(cidr.formatIPv4(cidr.parseIPv4('192.0.2.254')!), '192.0.2.254')
  const hostBits = cidr.parseCidr('10.244.1.0/16')
  t.false(hostBits.ok)
  t.regex((hostBits as { reason: string }).reason, /network address is 10\.244\.0\.0\/16/)
  t.false(cidr.parseCidr('10.0.0.0').ok)
  t.false(cidr.parseCidr('10.0.0.0/33').ok)
})

test('containment and overlap', (t) => {
  t.true(cidr.contains(c('10.0.0.0/8'), c('10.96.0.0/16')))
  t.false(cidr.contains(c('10.96.0.0/16'), c('10.0.0.0/8')))
  t.true(cidr.overlaps(c('10.244.4.0/22'), c('10.244.5.0/24')))
  t.false(cidr.overlaps(c('10.244.0.0/24'), c('10.244.1.0/24')))
  t.true(cidr.containsIp(c('0.0.0.0/0'), cidr.parseIPv4('255.255.255.255')!))
})

test('subnets', (t) => {
  t.is(cidr.formatCidr(cidr.subnet(c('10.244.0.0/16'), 24, 3)!), '10.244.3.0/24')
  t.is(cidr.subnet(c('10.244.0.0/23'), 24, 2), undefined)
  t.is(cidr.subnet(c('10.244.0.0/16'), 8, 0), undefined)
})
