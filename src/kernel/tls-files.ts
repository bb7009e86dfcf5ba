/**
 * The certificate and private key of a TLS listener (controller, gateway), read and checked at start so
 * that a wrong file is one line naming it and the fix — not a stack trace from deep inside `https`, and not
 * a listener that fails every handshake later. Shared by `fustor controller` and `fustor fusion`.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { Server as TlsServer, createSecureContext } from 'node:tls';

/** PEM contents handed to Fastify's `https` option as they are (the cert file may carry the chain). */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** The files they were read from (watched for renewals, see watchTlsFiles). */
  files?: { cert: TlsFile; key: TlsFile };
}

/** A TLS file problem phrased for the operator (one line naming the file and the fix). */
export class TlsFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsFileError';
  }
}

/** Where a file came from, for the message: `--tls-cert` or `tls.cert_file`. */
export interface TlsFile { file: string; setting: string }

function read(f: TlsFile, what: string): Buffer {
  try {
    return readFileSync(f.file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new TlsFileError(`${f.setting} ${f.file}: cannot read the ${what} (${code}): pass a readable PEM file`);
  }
}

/** Read both files and check that the key is the certificate's. Throws TlsFileError. */
export function loadTlsFiles(cert: TlsFile, key: TlsFile): TlsMaterial {
  const certPem = read(cert, 'certificate');
  const keyPem = read(key, 'private key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch {
    throw new TlsFileError(`${cert.setting} ${cert.file}: not a PEM certificate: pass the server certificate (-----BEGIN CERTIFICATE-----)`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE') {
      throw new TlsFileError(`${key.setting} ${key.file}: the private key is encrypted: pass an unencrypted key (openssl pkey -in KEY -out KEY.plain)`);
    }
    throw new TlsFileError(`${key.setting} ${key.file}: not a PEM private key: pass the private key of the certificate (-----BEGIN PRIVATE KEY-----)`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsFileError(`${key.setting} ${key.file} does not match the certificate ${cert.file}: pass the private key the certificate was issued for`);
  }
  // What https.createServer will do with them: anything else OpenSSL refuses is caught here, as one line.
  try {
    createSecureContext({ cert: certPem, key: keyPem });
  } catch (e) {
    throw new TlsFileError(`${cert.setting} ${cert.file} / ${key.setting} ${key.file}: not usable for TLS (${(e as Error).message}): pass a PEM certificate and its private key`);
  }
  return { cert: certPem, key: keyPem, files: { cert, key } };
}

/** Identity of a file's current content as far as a poll can tell (a renewal rewrites or replaces it). */
function fileStamp(file: string): string {
  try {
    const st = statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch (e) {
    return `missing:${(e as NodeJS.ErrnoException).code ?? ''}`;
  }
}

export interface TlsWatchOptions {
  /** How often the files are looked at (stat only, unless they changed). */
  intervalMs: number;
  /** A changed pair that reads and matches: hand it to the listeners. */
  onReload: (material: TlsMaterial, subject: string, validTo: string) => void;
  /** A changed pair that does not (yet): the listeners keep the running certificate. Said once per change. */
  onError: (message: string) => void;
}

/**
 * Certificate renewal without a restart (certbot, an internal CA's agent): the files are polled and, when
 * either changed and the pair is good again, the listeners get the new one for new connections. A renewal
 * that writes the certificate and the key one after the other passes through a mismatched state; that is
 * one `onError` and the next poll that sees both picks them up.
 */
export function watchTlsFiles(cert: TlsFile, key: TlsFile, opts: TlsWatchOptions): { stop(): void } {
  const stamp = () => `${fileStamp(cert.file)}|${fileStamp(key.file)}`;
  let loaded = stamp();
  let failed: string | null = null;
  const timer = setInterval(() => {
    const now = stamp();
    if (now === loaded || now === failed) return;
    try {
      const material = loadTlsFiles(cert, key);
      const x509 = new X509Certificate(material.cert);
      loaded = now;
      failed = null;
      opts.onReload(material, x509.subject.replace(/\n/g, ', '), x509.validTo);
    } catch (e) {
      failed = now;
      opts.onError(e instanceof Error ? e.message : String(e));
    }
  }, opts.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** FUSTOR_TLS_RELOAD_SEC: how often TLS files are checked for a renewal (default 60 s; 0 = never). */
export function tlsReloadIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FUSTOR_TLS_RELOAD_SEC;
  if (raw === undefined || raw === '') return 60_000;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new TlsFileError(`FUSTOR_TLS_RELOAD_SEC must be a number of seconds (0 = never reload), not ${JSON.stringify(raw)}`);
  return n * 1000;
}

/** New connections of an HTTPS server (Fastify's `app.server`) use `material` from now on; plain HTTP: nothing to do. */
export function setServerTls(server: unknown, material: TlsMaterial): void {
  if (server instanceof TlsServer) server.setSecureContext({ cert: material.cert, key: material.key });
}
