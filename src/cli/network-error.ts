/**
 * Why a fetch to a server failed, for the clients' one-line errors. TLS problems get their own wording:
 * "is it running?" is the wrong advice when the server answered with a certificate this machine does not
 * trust, or does not speak TLS at all.
 */

/** OpenSSL verification codes meaning "signed by a CA this process does not trust". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED',
]);

/** The code (else message) of what made fetch fail: undici puts the socket's error in `cause`. */
export function networkCause(e: unknown): string {
  const inner = (e as { cause?: { code?: string; message?: string } }).cause;
  return inner?.code ?? inner?.message ?? (e as Error).message;
}

/** One clause naming a TLS problem and its fix, or null when the failure is not about TLS. */
export function tlsProblem(e: unknown, server: string): string | null {
  const cause = networkCause(e);
  if (UNTRUSTED.has(cause)) return `certificate not trusted (${cause}): set FUSTOR_CA_FILE to the PEM file of the CA that signed the server's certificate`;
  if (cause === 'ERR_TLS_CERT_ALTNAME_INVALID') return `the server's certificate does not name this host (${cause}): use a host name or address the certificate lists`;
  if (cause === 'CERT_HAS_EXPIRED' || cause === 'CERT_NOT_YET_VALID') return `the server's certificate is not valid now (${cause}): renew it on the server`;
  if (cause === 'ERR_SSL_WRONG_VERSION_NUMBER') return 'the server does not speak TLS: use an http:// URL';
  // What a TLS listener does to a plain-HTTP request: it hangs up without a word.
  if (cause === 'UND_ERR_SOCKET' && server.startsWith('http:')) return `the server closed the connection without an answer (${cause}): if it serves HTTPS, use an https:// URL`;
  return null;
}
