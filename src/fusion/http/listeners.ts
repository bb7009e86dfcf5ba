/**
 * The gateway's sockets: the main listener and one listener per distinct receiver port (ingest API only).
 * `sync` makes the receiver listeners match a config (open new ports, close removed ones, update which
 * receivers an existing port serves) — used at start and on reload. With TLS every listener serves HTTPS:
 * receiver ports carry agents' keys just like the main port.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../kernel/logger.ts';
import { setServerTls, type TlsMaterial } from '../../kernel/tls-files.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { Gateway } from '../gateway.ts';
import { createApp, type GatewayApp } from './app.ts';
import type { ListenerScope } from './auth.ts';

export class ListenError extends Error {}

export interface Listener {
  readonly app: GatewayApp;
  readonly scope: ListenerScope;
  readonly host: string;
  readonly port: number;
  readonly url: string;
}

export async function openListener(gw: Gateway, log: Logger, kind: 'main' | 'receiver', host: string, port: number, scope: ListenerScope, bodyLimit: number, hint: string, tls?: TlsMaterial): Promise<Listener> {
  const app = await createApp({ gateway: gw, log, scope, kind, bodyLimit, tls });
  try {
    await app.listen({ host, port });
  } catch (e) {
    await app.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new ListenError(`port ${port} in use: ${hint}`);
    if (code === 'EACCES') throw new ListenError(`port ${port} needs privileges: ${hint}`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new ListenError(`cannot listen on host '${host}': not an address of this machine`);
    throw e;
  }
  const actual = (app.server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { app, scope, host, port: actual, url: `${tls === undefined ? 'http' : 'https'}://${shownHost}:${actual}` };
}

/**
 * Receiver listeners wanted by a config: port → (host, receivers). Receivers on the main port are
 * excluded. Port 0 (any free port) never means "the main port": such receivers share one ephemeral listener.
 */
export function receiverPorts(config: ResolvedConfig, mainPort: number): Map<number, { host: string; receivers: Set<string> }> {
  const out = new Map<number, { host: string; receivers: Set<string> }>();
  for (const r of config.receivers.values()) {
    if (r.disabled || r.port === null || (r.port === mainPort && mainPort !== 0)) continue;
    const entry = out.get(r.port) ?? { host: r.bindHost, receivers: new Set<string>() };
    entry.receivers.add(r.id);
    out.set(r.port, entry);
  }
  return out;
}

export class ReceiverListeners {
  private readonly byPort = new Map<number, Listener>();

  constructor(private readonly gw: Gateway, private readonly log: Logger, private tls?: TlsMaterial) {}

  /** A renewed certificate: the open receiver listeners take it for new connections, later ones open with it. */
  setTls(tls: TlsMaterial): void {
    this.tls = tls;
    for (const l of this.byPort.values()) setServerTls(l.app.server, tls);
  }

  /** Open/close/update receiver listeners to match `config`. Opening errors are collected, not thrown midway. */
  async sync(config: ResolvedConfig, mainPort: number, bodyLimit: number): Promise<{ opened: Listener[]; errors: string[] }> {
    const wanted = receiverPorts(config, mainPort);
    const opened: Listener[] = [];
    const errors: string[] = [];
    for (const [port, l] of this.byPort) {
      if (!wanted.has(port)) {
        this.byPort.delete(port);
        await l.app.close();
        this.log.info({ port }, 'receiver listener closed');
      }
    }
    for (const [port, want] of wanted) {
      const existing = this.byPort.get(port);
      if (existing !== undefined) {
        existing.scope.receivers = want.receivers;
        continue;
      }
      const names = [...want.receivers].join(', ');
      try {
        const l = await openListener(this.gw, this.log, 'receiver', want.host, port, { receivers: want.receivers }, bodyLimit, `change receivers.${[...want.receivers][0]}.port`, this.tls);
        // Port 0 asks for an ephemeral port: key the listener by the requested port so reloads match it.
        this.byPort.set(port, l);
        opened.push(l);
        this.log.info({ url: l.url, receivers: names }, 'receiver listener open');
      } catch (e) {
        errors.push(e instanceof Error ? e.message : String(e));
      }
    }
    return { opened, errors };
  }

  list(): Listener[] {
    return [...this.byPort.values()];
  }

  async closeAll(): Promise<void> {
    const all = [...this.byPort.values()];
    this.byPort.clear();
    await Promise.all(all.map((l) => l.app.close()));
  }
}
