// `npm run test:e2e:qemu`: the VM end-to-end test, kept out of `npm test` (TCG makes it slow here).
export default {
  files: ['test/qemu/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  timeout: '60m',
  concurrency: 1,
  // Lab traffic never leaves into this machine's namespace.
  environmentVariables: { KUBELAB_EGRESS: 'off' },
}
