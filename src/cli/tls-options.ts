/**
 * `--tls-cert FILE --tls-key FILE` of the long-running commands (controller, fusion): both or neither.
 * Problems are TlsFileError lines; the commands print them like their other flag errors.
 */
import type { Command } from 'commander';
import type { Logger } from '../kernel/logger.ts';
import { loadTlsFiles, TlsFileError, watchTlsFiles, type TlsMaterial } from '../kernel/tls-files.ts';

export interface TlsFlags {
  tlsCert?: string;
  tlsKey?: string;
}

export function addTlsOptions(cmd: Command, what: string): Command {
  return cmd
    .option('--tls-cert <file>', `serve ${what} over HTTPS with this PEM certificate (chain); needs --tls-key`)
    .option('--tls-key <file>', 'the PEM private key of --tls-cert (unencrypted)');
}

/** The flags' certificate and key, or undefined when neither is given. Throws TlsFileError. */
export function tlsFromFlags(flags: TlsFlags): TlsMaterial | undefined {
  if (flags.tlsCert === undefined && flags.tlsKey === undefined) return undefined;
  if (flags.tlsKey === undefined) throw new TlsFileError('--tls-cert needs --tls-key FILE too (the private key of the certificate), or drop --tls-cert to serve plain HTTP');
  if (flags.tlsCert === undefined) throw new TlsFileError('--tls-key needs --tls-cert FILE too (the certificate of the key), or drop --tls-key to serve plain HTTP');
  return loadTlsFiles({ file: flags.tlsCert, setting: '--tls-cert' }, { file: flags.tlsKey, setting: '--tls-key' });
}

/**
 * Watches the files of `tls` every `intervalMs` (FUSTOR_TLS_RELOAD_SEC, see tlsReloadIntervalMs) and hands a
 * renewed pair to `apply`; a bad pair is logged and the running certificate stays. Returns the stop function
 * (a no-op without TLS or with an interval of 0).
 */
export function watchTls(tls: TlsMaterial | undefined, intervalMs: number, log: Logger, apply: (m: TlsMaterial) => void): () => void {
  if (tls?.files === undefined || intervalMs === 0) return () => undefined;
  const { cert, key } = tls.files;
  const w = watchTlsFiles(cert, key, {
    intervalMs,
    onReload: (m, subject, validTo) => {
      apply(m);
      log.info({ cert: cert.file, subject, valid_to: validTo }, 'TLS certificate reloaded: new connections use it');
    },
    onError: (message) => log.warn(`TLS files changed but not reloaded, the running certificate stays: ${message}`),
  });
  return () => w.stop();
}
