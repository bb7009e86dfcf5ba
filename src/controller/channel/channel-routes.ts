/**
 * Transports of the channel: the WebSocket endpoint `GET /api/v1/channel` (an `upgrade` handler on the
 * API's HTTP server: admission rate limit, then the member credential, then the hub) and the long-poll
 * fallback `POST /api/v1/channel/poll` (same frames, same hub).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { FustorError } from '../../kernel/errors.ts';
import type { Logger } from '../../kernel/logger.ts';
import { ErrorBody, PollRequest, PollResponse } from '../../protocol/index.ts';
import type { ControllerApp } from '../http/app.ts';
import type { IdentityService } from '../identity/identity-service.ts';
import type { ChannelHub } from './hub.ts';
import { TokenBucket } from './token-bucket.ts';

export const CHANNEL_PATH = '/api/v1/channel';
const MAX_FRAME_BYTES = 1024 * 1024;
const DEFAULT_POLL_WAIT_SEC = 25;

/**
 * `ratePerSec`/`burst`: the token bucket of new channels. `maxPending`: channels admitted whose first
 * frame has not arrived yet (credential check, handshake, first report) — when a herd arrives faster than the event loop can verify
 * credentials, the bucket alone would keep admitting (it is consulted only when the loop reaches each
 * upgrade); refusing beyond this many in progress sheds the load with a cheap 503 instead of queueing it.
 */
export interface AdmissionOptions {
  ratePerSec: number;
  burst: number;
  maxPending: number;
  /** How long an admitted member may stay silent before its admission slot is freed anyway (default 10 s). */
  firstFrameTimeoutMs?: number;
}

export function channelRoutes(app: ControllerApp, hub: ChannelHub, identity: IdentityService, admission: AdmissionOptions, log: Logger): { dispose(): void; admissionsRefused(): number } {
  const bucket = new TokenBucket(admission.ratePerSec, admission.burst);
  let refused = 0; // for the metrics (fustor_controller_admissions_refused_total)
  let pending = 0; // admitted upgrades not yet handed to the hub
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });

  const refuse = (socket: Duplex, status: number, err: FustorError | { code: string; message: string }, extra: Record<string, string> = {}) => {
    const body = JSON.stringify({ code: err.code, message: err.message, detail: err.message });
    const reason = status === 503 ? 'Service Unavailable' : status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 404 ? 'Not Found' : 'Bad Request';
    const headers = { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', ...extra };
    socket.end(`HTTP/1.1 ${status} ${reason}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`);
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== CHANNEL_PATH && path !== `${CHANNEL_PATH}/`) return refuse(socket, 404, { code: 'NOT_FOUND', message: `no WebSocket endpoint at ${path.slice(0, 200)}: use ${CHANNEL_PATH}` });
    if (pending >= admission.maxPending) {
      refused++;
      return refuse(socket, 503, { code: 'BUSY', message: `${pending} channel connections are being admitted; retry after 1 s (with jitter)` }, { 'Retry-After': '1' });
    }
    const wait = bucket.take();
    if (wait > 0) {
      refused++;
      return refuse(socket, 503, { code: 'BUSY', message: `too many channel connections at once; retry after ${wait} s (with jitter)` }, { 'Retry-After': String(wait) });
    }
    // A slot is held until the member's first frame (its first report is the expensive part: manifest
    // evaluation), and released exactly once: first frame, refusal, socket closed on the way (a failed
    // handshake never reaches the handleUpgrade callback), or firstFrameTimeoutMs for a silent member.
    pending++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      pending--;
    };
    socket.once('close', release);
    setTimeout(release, admission.firstFrameTimeoutMs ?? 10_000).unref();
    identity.authenticate(req.headers.authorization).then(({ member }) => {
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.once('message', release);
        hub.attachSocket(member, ws);
      });
    }, (e: unknown) => {
      release();
      const err = e instanceof FustorError ? e : new FustorError('INTERNAL', 'internal error');
      if (!(e instanceof FustorError)) log.error({ err: e }, 'channel: authentication failed unexpectedly');
      refuse(socket, err.httpStatus, err);
    });
  };
  app.server.on('upgrade', onUpgrade);

  app.post(`${CHANNEL_PATH}/poll`, {
    config: { role: 'public' },
    schema: {
      tags: ['channel'], summary: 'Long-poll fallback of the channel: post member frames, receive controller frames (waits up to wait_sec)',
      security: [{ bearer: [] }], body: PollRequest, response: { 200: PollResponse, 401: ErrorBody, 403: ErrorBody, 422: ErrorBody, 503: ErrorBody },
    },
  }, async (request) => {
    const { member } = await identity.authenticate(request.headers.authorization);
    const waitMs = Math.round((request.body.wait_sec ?? DEFAULT_POLL_WAIT_SEC) * 1000);
    return { frames: await hub.poll(member, request.body.frames, waitMs) };
  });

  return {
    admissionsRefused: () => refused,
    dispose() {
      app.server.off('upgrade', onUpgrade);
      for (const c of wss.clients) c.terminate();
      wss.close();
    },
  };
}
