// The conformance test images' pure parts: the real `e2e.test --list-images` of v1.35.4 (fixture)
// maps to a recipe for every image a [Conformance] test uses (one image per recipe, the other
// tags its aliases) and names the rest; the apt simulation, the alternatives of maintainer
// scripts, what is left out of an image, busybox's applet links in merged /usr, layers with
// directory modes, and what a node lacks of an image.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { layerEntries } from '../../scripts/lib/artifacts/oci.ts'
import { CONFORMANCE_IMAGES, parseImageList, planImages, unbuildableReport } from '../../scripts/lib/conformance/images.ts'
import { debFileName, keptInImage, parseAlternatives, parseAptSimulation } from '../../scripts/lib/images/debs.ts'
import { busyboxLinks, E2E_RECIPES, overlay, parseRef, recipeFor, systemFiles } from '../../scripts/lib/images/e2e.ts'
import { lacking } from '../../scripts/lib/images/import.ts'

const LIST = readFileSync(new URL('../fixtures/conformance/list-images-v1.35.4.txt', import.meta.url), 'utf8')

test('--list-images of v1.35.4: 49 references, every one a [Conformance] test uses has a recipe', (t) => {
  const refs = parseImageList(`I1201 18:20:01 some log line\n${LIST}\n\n`)
  t.is(refs.length, 49)
  const plan = planImages(refs)
  t.deepEqual(plan.unbuildable.filter((u) => u.conformance), [])
  const names = new Set(refs.map((r) => parseRef(r).name))
  for (const n of CONFORMANCE_IMAGES) t.true(names.has(n), `${n} is in the list`)
  t.deepEqual(plan.images.map((p) => p.recipe.name).filter((n) => CONFORMANCE_IMAGES.includes(n)).sort(), [...CONFORMANCE_IMAGES].sort())
  const byName = Object.fromEntries(plan.images.map((p) => [p.recipe.name, { primary: p.primary.ref, aliases: p.aliases }]))
  t.deepEqual(byName['e2e-test-images/agnhost'], { primary: 'registry.k8s.io/e2e-test-images/agnhost:2.59', aliases: ['registry.k8s.io/e2e-test-images/agnhost:2.55'] })
  t.deepEqual(byName['e2e-test-images/busybox'], { primary: 'registry.k8s.io/e2e-test-images/busybox:1.37.0-1', aliases: ['registry.k8s.io/e2e-test-images/busybox:1.36.1-1'] })
  t.deepEqual(byName['e2e-test-images/nginx'], { primary: 'registry.k8s.io/e2e-test-images/nginx:1.15-4', aliases: ['registry.k8s.io/e2e-test-images/nginx:1.14-4'] })
  t.deepEqual(byName.pause, { primary: 'registry.k8s.io/pause:3.10.1', aliases: [] })
  t.deepEqual(byName.etcd, { primary: 'registry.k8s.io/etcd:3.6.6-0', aliases: [] })
  t.is(plan.images[0]!.recipe.name, 'e2e-test-images/agnhost', 'agnhost first: most tests need it')
  // Never built: an image that must fail to pull, the authenticated registry's, storage drivers, benchmarks.
  const un = plan.unbuildable.map((u) => u.ref)
  for (const r of ['invalid.registry.k8s.io/invalid/alpine:3.1', 'gcr.io/k8s-authenticated-test/agnhost:2.6', 'registry.k8s.io/sig-storage/csi-provisioner:v5.3.0', 'registry.k8s.io/e2e-test-images/node-perf/npb-ep:1.2']) t.true(un.includes(r), r)
  t.is(plan.images.reduce((n, p) => n + 1 + p.aliases.length, 0) + un.length, refs.length, 'every reference built, aliased or named')
})

test('images without a recipe are named: a warning for those [Conformance] tests use, a line for the rest', (t) => {
  const plan = planImages(['registry.k8s.io/e2e-test-images/agnhost:2.59', 'registry.k8s.io/e2e-test-images/perl:5.26'])
  t.deepEqual(unbuildableReport(plan), { info: 'not built (no recipe; used only outside the [Conformance] tests): registry.k8s.io/e2e-test-images/perl:5.26' })
  const needed = unbuildableReport({ images: [], unbuildable: [{ ref: 'registry.k8s.io/e2e-test-images/agnhost:9.9', conformance: true }] })
  t.regex(needed.warning!, /^cannot build registry\.k8s\.io\/e2e-test-images\/agnhost:9\.9 \(no recipe\), which \[Conformance\] tests use/)
  t.is(needed.info, undefined)
  t.deepEqual(unbuildableReport(planImages(['registry.k8s.io/pause:3.10.1'])), {})
})

test('references: registry, name, tag; one recipe per name', (t) => {
  t.deepEqual(parseRef('registry.k8s.io/e2e-test-images/agnhost:2.59'), { ref: 'registry.k8s.io/e2e-test-images/agnhost:2.59', registry: 'registry.k8s.io', name: 'e2e-test-images/agnhost', tag: '2.59' })
  t.is(parseRef('localhost:5000/pause:3.10.1').name, 'pause')
  t.is(new Set(E2E_RECIPES.map((r) => r.name)).size, E2E_RECIPES.length)
  t.is(recipeFor('e2e-test-images/perl'), undefined)
  t.throws(() => parseRef('agnhost'), { message: /not an image reference with a registry: agnhost/ })
})

test('apt: the simulation\'s Inst lines, the .deb file names apt-get download writes', (t) => {
  const sim = [
    'NOTE: This is only a simulation!',
    'Inst libc6 (2.36-9+deb12u14 Debian:12.11/stable [amd64])',
    'Inst bind9-libs (1:9.18.49-1~deb12u3 Debian-Security:12/stable-security [amd64])',
    'Inst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.11/stable [all])',
    'Conf libc6 (2.36-9+deb12u14 Debian:12.11/stable [amd64])',
  ].join('\n')
  t.deepEqual(parseAptSimulation(sim), [
    { name: 'libc6', version: '2.36-9+deb12u14', arch: 'amd64' },
    { name: 'bind9-libs', version: '1:9.18.49-1~deb12u3', arch: 'amd64' },
    { name: 'tzdata', version: '2025b-0+deb12u1', arch: 'all' },
  ])
  t.is(debFileName({ name: 'bind9-libs', version: '1:9.18.49-1~deb12u3', arch: 'amd64' }), 'bind9-libs_1%3a9.18.49-1~deb12u3_amd64.deb')
})

test('alternatives: the links netcat-openbsd\'s and mawk\'s postinst make (slaves too), variables skipped', (t) => {
  const nc = '#!/bin/sh\nset -e\nif [ "$1" = "configure" ]; then\n    update-alternatives \\\n        --install /bin/nc nc /bin/nc.openbsd 50 \\\n        --slave /bin/netcat netcat /bin/nc.openbsd \\\n        --slave /usr/share/man/man1/nc.1.gz nc.1.gz /usr/share/man/man1/nc_openbsd.1.gz\nfi\n'
  t.deepEqual(parseAlternatives(nc), [
    { link: '/bin/nc', path: '/bin/nc.openbsd', priority: 50 },
    { link: '/bin/netcat', path: '/bin/nc.openbsd', priority: 50 },
    { link: '/usr/share/man/man1/nc.1.gz', path: '/usr/share/man/man1/nc_openbsd.1.gz', priority: 50 },
  ])
  t.deepEqual(parseAlternatives('update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5'), [{ link: '/usr/bin/awk', path: '/usr/bin/mawk', priority: 5 }])
  t.deepEqual(parseAlternatives('update-alternatives --install "$LINK" x "$TARGET" $PRIO\nupdate-alternatives --remove nc /bin/nc.openbsd'), [])
})

test('images leave out docs, manuals and translations, keep each package\'s copyright', (t) => {
  for (const p of ['usr/share/man/man1/curl.1.gz', 'usr/share/locale/de/LC_MESSAGES/grep.mo', 'usr/share/doc/curl/changelog.gz', 'usr/share/info']) t.false(keptInImage(p), p)
  for (const p of ['usr/share/doc/curl/copyright', 'usr/share/doc/curl', 'usr/share/doc', 'usr/bin/curl', 'usr/share/nginx/html/index.html', 'etc/nginx/nginx.conf']) t.true(keptInImage(p), p)
})

test('busybox: an applet link in /bin (merged: usr/bin) per applet, as upstream\'s image has them, none over a real file', (t) => {
  const root = [{ path: 'usr/bin/busybox', source: '/x/busybox', mode: 0o755 }, { path: 'usr/bin/sh', source: '/x/dash' }]
  t.deepEqual(busyboxLinks(root, ['sh', 'ls', 'sysctl', 'wget', 'busybox']), [
    { path: 'usr/bin/ls', symlink: '/bin/busybox' },
    { path: 'usr/bin/sysctl', symlink: '/bin/busybox' },
    { path: 'usr/bin/wget', symlink: '/bin/busybox' },
  ])
  t.throws(() => busyboxLinks(root, []), { message: /listed no applets/ })
})

test('image files: overlay replaces a path, directories keep their modes (tmp 1777), an explicit directory over an implicit parent', (t) => {
  const files = overlay([{ path: 'etc/passwd', content: 'debian' }, { path: 'usr/bin/x', source: '/x' }], systemFiles([], []))
  t.is(files.filter((f) => f.path === 'etc/passwd').length, 1)
  t.regex(String(files.find((f) => f.path === 'etc/passwd')!.content), /^root:x:0:0:root:\/root:\/bin\/sh\nnobody:x:65534:65534:/)
  const entries = layerEntries([{ path: 'tmp/a', content: 'x' }, { path: 'tmp', dir: true, mode: 0o1777 }, { path: 'uploads', dir: true }, { path: 'usr/local/bin/nnp', content: 'x', mode: 0o4755 }])
  const mode = (n: string) => entries.find((e) => e.name === n)?.mode
  t.is(mode('tmp/'), 0o1777)
  t.is(mode('uploads/'), 0o755)
  t.is(mode('usr/local/bin/nnp'), 0o4755)
  t.throws(() => layerEntries([{ path: 'tmp', dir: true }, { path: 'tmp', dir: true }]), { message: /duplicate image path tmp/ })
})

test('a node lacks an image when its ref is not at the digest, and each alias not tagged there', (t) => {
  const item = { image: { ref: 'r.io/a:2', tar: '/t', sha256: 's', digest: 'sha256:aa' }, aliases: ['r.io/a:1'] }
  const at = (ref: string, digest: string) => ({ ref, digest, size: '1 MiB', platforms: 'linux/amd64' })
  t.deepEqual(lacking([], item), { image: true, aliases: ['r.io/a:1'] })
  t.deepEqual(lacking([at('r.io/a:2', 'sha256:aa')], item), { image: false, aliases: ['r.io/a:1'] })
  t.deepEqual(lacking([at('r.io/a:2', 'sha256:aa'), at('r.io/a:1', 'sha256:aa')], item), { image: false, aliases: [] })
  t.deepEqual(lacking([at('r.io/a:2', 'sha256:bb'), at('r.io/a:1', 'sha256:bb')], item), { image: true, aliases: ['r.io/a:1'] }, 'an older build under the same names')
})
