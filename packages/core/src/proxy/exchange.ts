import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import type { HookContext } from '../pipeline/types.ts';
import type { Route } from '../routes/types.ts';

/**
 * The state of one request from its arrival to its record: what the steps of the request
 * path (inspect, match, policy, dispatch) learn is written here, and nowhere else.
 */
export class Exchange {
  readonly req: IncomingMessage;
  /** The response of a plain request; undefined for upgrades, which answer on `client`. */
  readonly res: ServerResponse | undefined;
  readonly client: Duplex;
  /** Upgrades: bytes the client sent after its handshake. */
  readonly head: Buffer | undefined;
  readonly upgrade: boolean;
  /** The client sent `Expect: 100-continue`: answer it only once policy accepted the request. */
  readonly expectContinue: boolean;
  readonly startedAt = performance.now();
  route: Route | undefined;
  context: HookContext | undefined;
  /** Flat `[name, value, …]` list for the upstream. */
  headers: string[] = [];
  /** `UpstreamCall.checkedHeaders`: leading entries of `headers` the strict parser vouches for. */
  checkedHeaders = 0;
  body: Readable | null = null;
  /** Safe to send again elsewhere if nothing reached the Pod. */
  retryable = false;
  upstreamStartedAt = 0;
  recorded = false;
  /** Set once the client address is known (see guards/client-address.ts). */
  clientAddress = '';
  peerTrusted = false;
  /** Gives back this request's per-client slot; called when the exchange (or its tunnel) ends. */
  release: (() => void) | undefined;

  constructor(
    req: IncomingMessage,
    res: ServerResponse | undefined,
    client: Duplex,
    head: Buffer | undefined,
    expectContinue: boolean,
  ) {
    this.req = req;
    this.res = res;
    this.client = client;
    this.head = head;
    this.upgrade = res === undefined;
    this.expectContinue = expectContinue;
  }

  get clientGone(): boolean {
    return this.res === undefined ? this.client.destroyed : this.res.destroyed;
  }
}
