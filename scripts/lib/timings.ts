// Timings of one `up`: each host phase (machines, binaries, PKI) and each step on each node, with
// start and duration. Written beside the cluster state as timings.json and an SVG timeline (a row
// per node, a bar per phase) so a slow bring-up shows where its time went. Names only, no values.

import path from 'node:path'
import { writeFileAtomic, writeJsonFile } from './host/files.ts'

export interface Timing {
  phase: string
  /** Absent for phases that run on the host for the whole cluster. */
  node?: string
  startedAt: number
  durationMs: number
  changed?: boolean
}

export class Timings {
  readonly startedAt = Date.now()
  readonly entries: Timing[] = []

  /** Times `fn` as a host phase. */
  async phase<T>(phase: string, fn: () => Promise<T>): Promise<T> {
    const startedAt = Date.now()
    try {
      return await fn()
    } finally {
      this.entries.push({ phase, startedAt, durationMs: Date.now() - startedAt })
    }
  }

  add(...timings: Timing[]): void {
    this.entries.push(...timings)
  }

  toJson(): { startedAt: string; totalMs: number; entries: (Omit<Timing, 'startedAt'> & { offsetMs: number })[] } {
    const end = Math.max(this.startedAt, ...this.entries.map((e) => e.startedAt + e.durationMs))
    return {
      startedAt: new Date(this.startedAt).toISOString(),
      totalMs: end - this.startedAt,
      entries: this.entries.map(({ startedAt, ...e }) => ({ ...e, offsetMs: startedAt - this.startedAt })),
    }
  }

  /** An SVG timeline: one row per node (host phases on the first row), one bar per phase. */
  svg(): string {
    const data = this.toJson()
    const rows = ['cluster', ...new Set(this.entries.flatMap((e) => (e.node ? [e.node] : [])))]
    const width = 900
    const left = 120
    const rowH = 28
    const scale = (width - left - 10) / Math.max(1, data.totalMs)
    const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')
    const colors = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f']
    const phases = [...new Set(this.entries.map((e) => e.phase))]
    const bars = data.entries.map((e) => {
      const y = rows.indexOf(e.node ?? 'cluster') * rowH + 30
      const x = left + e.offsetMs * scale
      const w = Math.max(1, e.durationMs * scale)
      const fill = colors[phases.indexOf(e.phase) % colors.length]
      return `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${fill}"><title>${esc(e.phase)}${e.node ? ` on ${esc(e.node)}` : ''}: ${(e.durationMs / 1000).toFixed(2)}s${e.changed === false ? ' (unchanged)' : ''}</title></rect>`
    })
    const labels = rows.map((r, i) => `<text x="8" y="${i * rowH + 30 + rowH / 2}" font-size="12" font-family="sans-serif">${esc(r)}</text>`)
    const height = rows.length * rowH + 50
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
      `<text x="8" y="18" font-size="13" font-family="sans-serif">kubelab up: ${(data.totalMs / 1000).toFixed(1)}s (${data.startedAt})</text>`,
      ...labels, ...bars, '</svg>', '',
    ].join('\n')
  }

  write(dir: string): { json: string; svg: string } {
    const json = path.join(dir, 'timings.json')
    const svg = path.join(dir, 'timings.svg')
    writeJsonFile(json, this.toJson(), { mode: 0o644 })
    writeFileAtomic(svg, this.svg(), { mode: 0o644 })
    return { json, svg }
  }
}
