/**
 * What the benchmarks share within one `npm run bench`: parsed arguments and one gateway loaded with the
 * layout, started on first use and reused by the query benchmarks (P3, P3r, P4).
 */
import { startGateway, type Gateway } from './gateway-process.ts';
import { HttpClient } from './http.ts';
import { closeSession, layoutBodies, openSession, pushSnapshot, waitReady } from './ingest-client.ts';
import { Layout, layoutForFiles } from './layout.ts';
import type { BenchReport } from './report.ts';

export interface BenchArgs {
  /** Files of the layout used by P1, P3, P3r, P4. */
  files: number;
  repeats: number;
  /** Entry counts measured by P2. */
  entries: number[];
  /** P2 refuses entry counts above this (each 1 M entries needs a few hundred MB in the gateway). */
  p2Max: number;
  concurrency: number;
  batchSize: number;
}

export function parseArgs(argv: string[]): { names: string[]; args: BenchArgs } {
  const args: BenchArgs = { files: 1_000_000, repeats: 5, entries: [1_000_000], p2Max: 10_000_000, concurrency: 4, batchSize: 5000 };
  const names: string[] = [];
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--files': args.files = num(a, argv[++i]); break;
      case '--repeats': args.repeats = num(a, argv[++i]); break;
      case '--entries': args.entries = (argv[++i] ?? '').split(',').map((v) => num(a, v)); break;
      case '--p2-max': args.p2Max = num(a, argv[++i]); break;
      case '--concurrency': args.concurrency = num(a, argv[++i]); break;
      case '--batch-size': args.batchSize = num(a, argv[++i]); break;
      default:
        if (a.startsWith('-')) throw new Error(`unknown flag ${a}: see the header of bench/run.ts`);
        names.push(a.toLowerCase());
    }
  }
  return { names, args };
}

export interface LoadedView {
  gateway: Gateway;
  layout: Layout;
  /** Keep-alive client with the view's query key. */
  query: HttpClient;
  loadSeconds: number;
}

export class BenchContext {
  readonly args: BenchArgs;
  private loaded: Promise<LoadedView> | undefined;
  private cleanup: () => Promise<void> = async () => {};

  constructor(args: BenchArgs) {
    this.args = args;
  }

  get layout(): Layout {
    return new Layout(layoutForFiles(this.args.files));
  }

  /** A gateway holding the layout, ready for queries (shared by the query benchmarks). */
  loadedView(): Promise<LoadedView> {
    this.loaded ??= (async () => {
      const layout = this.layout;
      const gateway = await startGateway();
      const t0 = performance.now();
      const ingest = new HttpClient(gateway.url, { 'x-api-key': gateway.receiverKey });
      const session = await openSession(ingest, 'bench-agent:bench-pipe');
      await pushSnapshot(ingest, session.id, layoutBodies(layout, this.args.batchSize), this.args.concurrency);
      const query = new HttpClient(gateway.url, { 'x-api-key': gateway.queryKey });
      await waitReady(query, gateway.view, { minItems: layout.entryCount });
      // The session stays open (heartbeating) so that the view keeps its leader while it is queried.
      this.cleanup = async () => {
        await closeSession(ingest, session).catch(() => undefined);
        ingest.close();
      };
      return { gateway, layout, query, loadSeconds: (performance.now() - t0) / 1000 };
    })();
    return this.loaded;
  }

  async dispose(): Promise<void> {
    if (this.loaded === undefined) return;
    const v = await this.loaded.catch(() => undefined);
    await this.cleanup();
    v?.query.close();
    await v?.gateway.stop();
  }
}

/** One benchmark module of bench/: run it with `npm run bench -- NAME`. */
export interface Benchmark {
  name: string;
  title: string;
  /** File name (without .json) under bench/results; default `name`. */
  resultName?: (args: BenchArgs) => string;
  run(ctx: BenchContext): Promise<BenchReport>;
}
