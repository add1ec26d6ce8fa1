import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the admin endpoint needs from the master. */
export interface AdminBackend {
  /** The full status document (GET /status). */
  status(): unknown;
  isLeader(): boolean;
  /** Whether this master can serve: it knows a leader and its state machine is not far behind. */
  health(): { readonly ok: boolean; readonly reason: string };
  metricsText(): Promise<string>;
  /** The applied index, a digest of the replicated metadata at it, and the invariant checker's findings (O(namespace)). */
  stateCheck(): { readonly applied: number; readonly digest: string; readonly invariants: readonly string[] };
  /** A membership or maintenance operation; throws an AdminError for a refused one. */
  admin(op: string, body: Readonly<Record<string, unknown>>): Promise<unknown>;
}

/** An operation refused with an HTTP status and a message for the operator. */
export class AdminError extends Error {
  override readonly name = 'AdminError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

export interface AdminHttpOptions {
  readonly host: string;
  readonly port: number;
  readonly backend: AdminBackend;
  /** Required for POST /admin/*; without it those requests are refused. */
  readonly adminToken: string | undefined;
  readonly log: { warn(obj: object, msg: string): void };
}

const maxBodyBytes = 64 * 1024;

/**
 * The admin HTTP endpoint of one master:
 * - `GET /status`: JSON status (role, term, indexes, members, lag);
 * - `GET /health`: 200 when the master can serve, 503 otherwise;
 * - `GET /leader`: 200 only on the leader (for load balancers and probes), 503 elsewhere;
 * - `GET /metrics`: Prometheus text format;
 * - `GET /debug/state`: the applied index, a SHA-256 of the metadata snapshot stream at that index
 *   (equal on masters in the same state) and the metadata invariant checker's findings. It walks
 *   the whole namespace: for tests and diagnosis, not for frequent polling;
 * - `POST /admin/<op>` with `Authorization: Bearer <token>` and a JSON body: membership and
 *   maintenance operations (see the master's `admin`).
 */
export class AdminHttp {
  private readonly server: Server;

  constructor(private readonly o: AdminHttpOptions) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        o.log.warn({ err: e }, 'admin request failed');
        if (!res.headersSent) json(res, 500, { error: 'ERR_INTERNAL', message: String(e) });
        else res.destroy();
      });
    });
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 30_000;
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const b = this.o.backend;
    if (req.method === 'GET' || req.method === 'HEAD') {
      switch (path) {
        case '/status':
          return json(res, 200, b.status());
        case '/health': {
          const h = b.health();
          return json(res, h.ok ? 200 : 503, h);
        }
        case '/leader': {
          const leader = b.isLeader();
          return json(res, leader ? 200 : 503, { leader });
        }
        case '/metrics': {
          const text = await b.metricsText();
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
          res.end(text);
          return;
        }
        case '/debug/state':
          return json(res, 200, b.stateCheck());
        default:
          return json(res, 404, { error: 'ERR_NOT_FOUND', message: `no such endpoint ${path}; try /status, /health, /leader, /metrics, /debug/state` });
      }
    }
    if (req.method === 'POST' && path.startsWith('/admin/')) {
      if (!this.authorized(req)) {
        return json(res, this.o.adminToken === undefined ? 403 : 401, {
          error: 'ERR_UNAUTHORIZED',
          message:
            this.o.adminToken === undefined
              ? 'membership operations are disabled: this master has no admin_token_file'
              : 'missing or wrong admin token (Authorization: Bearer <token>)',
        });
      }
      let body: Record<string, unknown>;
      try {
        body = await readJson(req);
      } catch (e) {
        return json(res, 400, { error: 'ERR_BAD_REQUEST', message: (e as Error).message });
      }
      try {
        const out = await b.admin(path.slice('/admin/'.length), body);
        return json(res, 200, out);
      } catch (e) {
        if (e instanceof AdminError) return json(res, e.status, { error: e.code, message: e.message, ...e.details });
        throw e;
      }
    }
    res.setHeader('allow', 'GET, HEAD, POST');
    return json(res, 405, { error: 'ERR_METHOD', message: `${req.method ?? '?'} ${path} is not supported` });
  }

  private authorized(req: IncomingMessage): boolean {
    const token = this.o.adminToken;
    if (token === undefined) return false;
    const h = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(h);
    if (m === null) return false;
    const a = Buffer.from(m[1] ?? '');
    const e = Buffer.from(token);
    return a.length === e.length && timingSafeEqual(a, e);
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    const b = c as Buffer;
    size += b.length;
    if (size > maxBodyBytes) throw new Error(`request body over ${maxBodyBytes} bytes`);
    chunks.push(b);
  }
  if (size === 0) return {};
  const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('the body must be a JSON object');
  return v as Record<string, unknown>;
}
