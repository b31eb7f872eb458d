// The esbuild options of kubelab's CLI bundle, shared by the bin (a bundle of the sources in a
// checkout, kept under node_modules/.cache/kubelab/) and `npm pack` (dist/kubelab.mjs, what the
// installed package runs): scripts/kubelab.ts and the npm packages it uses in one ES module file.
// ssh2 stays outside (it loads a native binding relative to its own files), esbuild too (only a
// checkout loads it, to make the bundle).

/** npm packages left outside the bundle (loaded from node_modules). */
export const EXTERNAL = ['ssh2', 'esbuild']

/**
 * @param {{ entry: string, packageRoot?: string }} o packageRoot: compiled in (a checkout, whose
 *   node_modules may be shared by several); without it the bundle finds its package from where it lies.
 */
export function bundleOptions(o) {
  return {
    entryPoints: [o.entry],
    bundle: true, platform: 'node', format: 'esm', target: 'node20',
    external: EXTERNAL, logLevel: 'silent',
    // CommonJS packages inside an ES module bundle: `require` for Node's own modules.
    banner: { js: "import { createRequire as __kubelabRequire } from 'node:module'; const require = __kubelabRequire(import.meta.url);" },
    ...(o.packageRoot ? { define: { __KUBELAB_PACKAGE_ROOT__: JSON.stringify(o.packageRoot) } } : {}),
  }
}
