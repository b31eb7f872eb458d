// Whether a kubelet serving CSR may be approved for a node: the decision alone, pure. A node's
// credentials can ask for any names, so the user name (system:node:NAME) is not enough: the
// request must name exactly that node (CN system:node:NAME, O system:nodes), ask only for its
// name as DNS and its address as IP, nothing else (no e-mail, URI or other names), and only the
// usages of a serving certificate. kubelet (with --hostname-override and --node-ip, as kubelab
// runs it) asks for exactly these.

import { x509 } from './x509.ts'

export interface ServingCsr {
  /** spec.request: the PEM (as the API returns it, base64 of the PEM). */
  readonly request: string
  /** spec.username */
  readonly username: string
  /** spec.usages */
  readonly usages?: readonly string[]
}

const ALLOWED_USAGES = new Set(['digital signature', 'key encipherment', 'server auth'])

/** What the request asks for, as text per name type. */
export interface RequestedNames {
  readonly subject: string
  /** Each attribute of the subject as TYPE=VALUE (one per value, every RDN). */
  readonly subjectParts: string[]
  readonly dns: string[]
  readonly ips: string[]
  readonly other: string[]
}

export function requestedNames(pem: string): RequestedNames {
  const csr = new x509.Pkcs10CertificateRequest(pem)
  const sans = csr.getExtensions('2.5.29.17').filter((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension)
  const dns: string[] = []
  const ips: string[] = []
  const other: string[] = []
  for (const n of sans.flatMap((e) => e.names.items)) {
    if (n.type === 'dns') dns.push(n.value)
    else if (n.type === 'ip') ips.push(n.value)
    else other.push(`${n.type}:${n.value}`)
  }
  const subjectParts = csr.subjectName.toJSON().flatMap((rdn) => Object.entries(rdn).flatMap(([k, vs]) => vs.map((v) => `${k}=${v}`)))
  return { subject: csr.subject, subjectParts, dns, ips, other }
}

/** undefined when the CSR may be approved for `node`; else why not (one line). */
export function servingCsrRefusal(csr: ServingCsr, node: { readonly name: string; readonly address: string }): string | undefined {
  const user = `system:node:${node.name}`
  if (csr.username !== user) return `requested by ${csr.username}, not ${user}`
  let names: RequestedNames
  try {
    names = requestedNames(Buffer.from(csr.request, 'base64').toString('utf8'))
  } catch (err) {
    return `the request is not a readable PKCS#10 CSR (${(err as Error).message})`
  }
  const subject = `CN=${user}, O=system:nodes`
  const parts = [...names.subjectParts].sort()
  const want = [`CN=${user}`, 'O=system:nodes'].sort()
  if (parts.length !== want.length || parts.some((p, i) => p !== want[i])) return `subject is "${names.subject}", not "${subject}"`
  const problems: string[] = []
  const badDns = names.dns.filter((d) => d.toLowerCase() !== node.name.toLowerCase())
  if (badDns.length) problems.push(`DNS names ${badDns.join(', ')} are not the node's name ${node.name}`)
  const badIps = names.ips.filter((ip) => ip !== node.address)
  if (badIps.length) problems.push(`IP addresses ${badIps.join(', ')} are not the node's address ${node.address}`)
  if (names.other.length) problems.push(`other names ${names.other.join(', ')} are not allowed`)
  if (!names.dns.length && !names.ips.length) problems.push('it names neither the node nor its address')
  const badUsages = (csr.usages ?? []).filter((u) => !ALLOWED_USAGES.has(u))
  if (badUsages.length) problems.push(`usages ${badUsages.join(', ')} are not those of a serving certificate`)
  if (csr.usages && !csr.usages.includes('server auth')) problems.push('usages lack server auth')
  return problems.length ? problems.join('; ') : undefined
}
