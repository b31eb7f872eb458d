// A process that rewrites one cluster state file as fast as it can (each version a different size,
// up to ~2 MB), for the kill -9 test in test/integration/state-crash.test.ts:
//   node --import tsx state-writer.ts DIR
import { StateStore, type MachineRecord } from '../../scripts/lib/providers/common/state.ts'

const store = new StateStore(process.argv[2]!)
process.stdout.write('writing\n')
for (let i = 0; ; i++) {
  const machines: Record<string, MachineRecord> = {}
  for (let m = 0; m < 1000 + (i % 7) * 1000; m++) {
    machines[`worker-${m}`] = { address: `10.0.${m >> 8}.${m & 255}`, role: 'worker', pids: { nspawn: i }, forwards: { ssh: 40000 + m }, createdAt: new Date().toISOString() }
  }
  store.write({ cluster: 'crash', provider: 'nspawn', machines, pids: { generation: i } })
}
