// `kubelab config validate` and `kubelab config schema`.

import { jsonSchema } from '../lib/config/schema.ts'
import type { ClusterConfig } from '../lib/config/types.ts'
import { load, printJson, type CommandContext } from './context.ts'

/** The resolved config without secrets, for --json. */
export function publicConfig(config: ClusterConfig): Omit<ClusterConfig, 'secrets'> {
  const { secrets: _secrets, ...rest } = config
  return rest
}

export function configValidateCommand(ctx: CommandContext): number {
  const { config } = load(ctx)
  if (ctx.options.json) {
    printJson(ctx, { valid: true, config: publicConfig(config) })
  } else {
    const cps = config.nodes.filter((n) => n.role === 'control-plane').length
    const workers = config.nodes.length - cps
    ctx.progress.info(
      `✓ ${ctx.options.config} is valid: ${config.nodes.length} nodes (${cps} control-plane, ${workers} worker${workers === 1 ? '' : 's'}), `
      + `provider ${config.provider.type}, Kubernetes ${config.kubernetes.version}, control plane ${config.controlPlane.mode}`,
    )
  }
  return 0
}

export function configSchemaCommand(ctx: CommandContext): number {
  printJson(ctx, jsonSchema())
  return 0
}
