/**
 * The certificate and private key of a TLS listener (controller, gateway), read and checked at start so
 * that a wrong file is one line naming it and the fix — not a stack trace from deep inside `https`, and not
 * a listener that fails every handshake later. Shared by `fustor controller` and `fustor fusion`.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

/** PEM contents handed to Fastify's `https` option as they are (the cert file may carry the chain). */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
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
  return { cert: certPem, key: keyPem };
}
