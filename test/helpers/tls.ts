/**
 * Throwaway certificates for TLS tests, made with openssl: a CA and server certificates for
 * 127.0.0.1/localhost signed by it (EC P-256, valid two days).
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA in `dir` (ca.pem, ca.key); returns the path of ca.pem. */
export function makeCa(dir: string): string {
  mkdirSync(dir, { recursive: true });
  openssl(dir, 'req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=fustor test CA');
  return join(dir, 'ca.pem');
}

/** A server certificate `name`.pem / `name`.key for 127.0.0.1 and localhost, signed by the CA of `dir`. */
export function issueServerCert(dir: string, name: string, serial: number): { cert: string; key: string } {
  openssl(dir, 'req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=localhost/O=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial), '-days', '2', '-copy_extensions', 'copy', '-out', `${name}.pem`);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

/** SHA-256 fingerprint of a PEM certificate file, as Node prints it (AA:BB:…). */
export function fingerprintOf(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}

/** The fingerprint of the certificate an https:// URL presents now (a new connection, no verification). */
export function servedFingerprint(url: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false, servername: 'localhost' }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
  });
}
