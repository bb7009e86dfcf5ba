/**
 * The controller's gateway manifest (spec 50, "Gateway manifest") turned into the configuration the
 * gateway runs: each manifest view → a view (driver, driver_params, live_mode); each pipe of a view → a
 * gateway pipe feeding that view on the main listener; the agents, revocations, hashed query keys and the
 * trusted issuer → `ResolvedConfig.access`. Pure; `Gateway.reload` then applies the per-view/pipe diff.
 *
 * A manifest that cannot run (unknown driver, bad driver_params, an id the gateway cannot serve, a pipe
 * listed under two views) throws ManifestError naming the field, and the running configuration stays:
 * the controller validates documents, but this gateway may be older or newer than it, so it checks again.
 */
import { Compile } from 'typebox/compile';
import { FUSION_DEFAULTS, GatewayManifest, ID_PATTERN, type FusionConfig, type PipeConfig, type ViewConfig } from '../../protocol/index.ts';
import { describeSchemaErrors, type SchemaError } from '../config/schema-errors.ts';
import { resolveConfig, type ManagedAccess, type ResolvedConfig } from '../config/resolved-config.ts';

export class ManifestError extends Error {
  constructor(readonly field: string, problem: string) {
    super(`manifest ${field}: ${problem}`);
    this.name = 'ManifestError';
  }
}

/** What the manifest does not say: where this gateway listens (CLI flags). */
export interface ManagedListener {
  host?: string;
  port?: number;
}

/** Every pipe of a managed gateway is served by this receiver on the main listener; it has no keys. */
export const MANAGED_RECEIVER = 'managed';

const DRIVERS = ['fs', 'forest-fs'] as const;
const ID = new RegExp(ID_PATTERN);
const HASH = /^sha256:[0-9a-f]{64}$/;
const checker = Compile(GatewayManifest);

/** The configuration of a managed gateway before its first manifest: listening, no views. */
export function emptyManagedConfig(listener: ManagedListener): ResolvedConfig {
  return build({ views: {}, pipes: {} }, listener, { pipeAgents: new Map(), revoked: new Set(), queryKeys: new Map(), trust: { issuer: '', jwksUrl: '' } });
}

/** Validate a manifest's content and build the configuration it describes. Throws ManifestError. */
export function manifestConfig(content: unknown, listener: ManagedListener): ResolvedConfig {
  const kind = (content as { kind?: unknown } | null)?.kind;
  if (kind !== 'gateway') throw new ManifestError('kind', `this manifest is for ${JSON.stringify(kind) ?? 'nothing'}, not for a gateway`);
  if (!checker.Check(content)) {
    const found = describeSchemaErrors(checker.Errors(content) as SchemaError[]);
    throw new ManifestError(found?.field ?? '(document)', found?.problem ?? 'is not a gateway manifest');
  }
  const m = content as GatewayManifest;
  const views: Record<string, ViewConfig> = {};
  const pipes: Record<string, PipeConfig> = {};
  const pipeAgents = new Map<string, Set<string>>();
  m.views.forEach((v, i) => {
    const at = `views[${i}]`;
    if (!ID.test(v.id)) throw new ManifestError(`${at}.id`, `'${v.id}' is not a view id this gateway can serve (letters, digits, '_', '.', '-'; at most 64 characters)`);
    if (v.id in views) throw new ManifestError(`${at}.id`, `view '${v.id}' is listed twice`);
    if (!(DRIVERS as readonly string[]).includes(v.driver)) throw new ManifestError(`${at}.driver`, `unknown driver '${v.driver}' (known drivers: ${DRIVERS.join(', ')})`);
    views[v.id] = { driver: v.driver as ViewConfig['driver'], api_keys: [], ...(v.driver_params === undefined ? {} : { driver_params: v.driver_params }) };
    v.pipes.forEach((p, j) => {
      const pat = `${at}.pipes[${j}]`;
      if (!ID.test(p.id)) throw new ManifestError(`${pat}.id`, `'${p.id}' is not a pipe id this gateway can serve (letters, digits, '_', '.', '-'; at most 64 characters)`);
      if (p.id in pipes) throw new ManifestError(`${pat}.id`, `pipe '${p.id}' is listed under two views ('${pipes[p.id].views[0]}' and '${v.id}'); a pipe feeds one view`);
      pipes[p.id] = { receiver: MANAGED_RECEIVER, views: [v.id], ...(v.live_mode === undefined ? {} : { live_mode: v.live_mode }) };
      pipeAgents.set(p.id, new Set(p.agents));
    });
  });
  const queryKeys = new Map<string, Set<string>>();
  m.query_keys.forEach((k, i) => {
    if (!HASH.test(k.hash)) throw new ManifestError(`query_keys[${i}].hash`, `query key '${k.name}' must be given as sha256:<64 hex digits>`);
    const known = queryKeys.get(k.hash) ?? new Set<string>();
    for (const v of k.views) if (v in views) known.add(v); // a view this gateway does not serve grants nothing
    queryKeys.set(k.hash, known);
  });
  if (!/^https?:\/\/\S+$/.test(m.trust.jwks_url)) throw new ManifestError('trust.jwks_url', `'${m.trust.jwks_url}' is not an http(s) URL`);
  return build({ views, pipes }, listener, { pipeAgents, revoked: new Set(m.revoked_members), queryKeys, trust: { issuer: m.trust.issuer, jwksUrl: m.trust.jwks_url } });
}

function build(sections: { views: Record<string, ViewConfig>; pipes: Record<string, PipeConfig> }, listener: ManagedListener, access: ManagedAccess): ResolvedConfig {
  const doc: FusionConfig = {
    host: listener.host ?? FUSION_DEFAULTS.host,
    port: listener.port ?? FUSION_DEFAULTS.port,
    receivers: { [MANAGED_RECEIVER]: { driver: 'http', api_keys: [] } },
    views: sections.views,
    pipes: sections.pipes,
  };
  return { ...resolveConfig(doc), access };
}
