// The addons switches of e2e files that test something else than storage, metrics, load
// balancing or Ingress: those are proven by the addons e2e and the cluster e2e (the default config, every
// smoke check), and leaving them out here spares each `up` their deploy (metrics-server waits
// ~20 s for its first scrapes, MetalLB for its webhook) and the images' import, which keeps CI
// inside its time budget.
export const OTHER_ADDONS_OFF = { storage: false, metricsServer: false, loadBalancer: { enabled: false }, ingress: false } as const
