import {
  type Client,
  credentials,
  Server as GrpcServer,
  Metadata,
  makeGenericClientConstructor,
  ServerCredentials,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type ServiceError,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';

/**
 * A real gRPC server and client (@grpc/grpc-js) for the tests, with a hand-written service
 * whose messages are UTF-8 strings: the framing, metadata, trailers and deadlines are all
 * grpc-js's own, without a .proto file to generate from.
 */

const text = {
  requestSerialize: (value: string) => Buffer.from(value, 'utf8'),
  requestDeserialize: (bytes: Buffer) => bytes.toString('utf8'),
  responseSerialize: (value: string) => Buffer.from(value, 'utf8'),
  responseDeserialize: (bytes: Buffer) => bytes.toString('utf8'),
};

const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/test.Echo/${name}`,
  requestStream,
  responseStream,
  originalName: name,
  ...text,
});

export const ECHO_SERVICE = {
  /** Unary: answers what it saw (message, API key header, authority) as JSON. */
  Echo: method('Echo', false, false),
  /** Server streaming: the request is a count; answers "0", "1", … */
  Count: method('Count', false, true),
  /** Client streaming: answers the messages joined by ",". */
  Collect: method('Collect', true, false),
  /** Bidi: answers each message with "echo:<message>" as it arrives. */
  Chat: method('Chat', true, true),
  /** Unary that never answers (served by a Pod that ignores grpc-timeout). */
  Hang: method('Hang', false, false),
  /** Unary that fails with NOT_FOUND and a message: the app's own status, relayed. */
  Fail: method('Fail', false, false),
} satisfies ServiceDefinition;

export interface GrpcEcho {
  readonly port: number;
  close(): Promise<void>;
}

export async function startGrpcEcho(host: string): Promise<GrpcEcho> {
  const server = new GrpcServer();
  const trailer = () => {
    const metadata = new Metadata();
    metadata.set('x-app-trailer', 'relayed');
    return metadata;
  };
  server.addService(ECHO_SERVICE, {
    Echo(call: ServerUnaryCall<string, string>, callback: sendUnaryData<string>) {
      const key = call.metadata.get('x-routing-api-key');
      const forwardedFor = call.metadata.get('x-forwarded-for');
      callback(
        null,
        JSON.stringify({
          message: call.request,
          apiKeySeen: key.length > 0,
          forwardedFor: String(forwardedFor[0] ?? ''),
          traceparent: String(call.metadata.get('traceparent')[0] ?? ''),
        }),
        trailer(),
      );
    },
    Count(call: ServerWritableStream<string, string>) {
      const count = Number(call.request);
      for (let i = 0; i < count; i++) call.write(String(i));
      call.end(trailer());
    },
    Collect(call: ServerReadableStream<string, string>, callback: sendUnaryData<string>) {
      const seen: string[] = [];
      call.on('data', (message: string) => seen.push(message));
      call.on('end', () => callback(null, seen.join(','), trailer()));
    },
    Chat(call: ServerDuplexStream<string, string>) {
      call.on('data', (message: string) => call.write(`echo:${message}`));
      call.on('end', () => call.end(trailer()));
    },
    // Hang is served only by a Pod that ignores grpc-timeout (test/conformance/grpc.test.ts):
    // grpc-js ends a call itself once its deadline passes.
    Hang(_call: ServerUnaryCall<string, string>) {},
    Fail(_call: ServerUnaryCall<string, string>, callback: sendUnaryData<string>) {
      callback({ code: status.NOT_FOUND, details: 'no such thing' });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:0`, ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // Calls left hanging (Hang) would hold a graceful shutdown forever.
        setImmediate(() => server.forceShutdown());
      }),
  };
}

const EchoClient = makeGenericClientConstructor(ECHO_SERVICE, 'Echo');

/**
 * A client of the echo service at `address`, calling it as `authority` (the route host):
 * h2c, or TLS (ALPN h2) checked against `ca` with `authority` as the server name.
 */
export function echoClient(address: string, authority: string, ca?: string): Client {
  if (ca === undefined)
    return new EchoClient(address, credentials.createInsecure(), {
      'grpc.default_authority': authority,
    });
  return new EchoClient(address, credentials.createSsl(Buffer.from(ca)), {
    'grpc.default_authority': authority,
    'grpc.ssl_target_name_override': authority,
  });
}

export interface CallResult {
  readonly code: number;
  readonly details: string;
  readonly messages: readonly string[];
  readonly trailers: Readonly<Record<string, unknown>>;
}

type CallOptions = { readonly metadata?: Record<string, string>; readonly deadlineMs?: number };

const metadataOf = (fields: Record<string, string> = {}) => {
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(fields)) metadata.set(name, value);
  return metadata;
};

const deadlineOf = (options: CallOptions) =>
  options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };

/**
 * Runs one call of any shape: `requests` are sent in order (one for unary and server
 * streaming), every answer is collected, and the call's final status comes back with its
 * trailing metadata, whether it succeeded or not.
 */
export function call(
  client: Client,
  name: keyof typeof ECHO_SERVICE,
  requests: readonly string[],
  options: CallOptions = {},
): Promise<CallResult> {
  const definition = ECHO_SERVICE[name];
  const messages: string[] = [];
  const metadata = metadataOf(options.metadata);
  const callOptions = deadlineOf(options);
  return new Promise((resolve) => {
    let trailers: Record<string, unknown> = {};
    let finished: { code: number; details: string } | undefined;
    let ended = false;
    const settle = () => {
      if (finished !== undefined && ended) resolve({ ...finished, messages, trailers });
    };
    const onStatus = (result: { code: number; details: string; metadata: Metadata }) => {
      trailers = result.metadata.getMap();
      finished = { code: result.code, details: result.details };
      settle();
    };
    const unaryDone = (error: ServiceError | null, value?: string) => {
      if (error === null && value !== undefined) messages.push(value);
      ended = true;
      settle();
    };
    if (!definition.requestStream && !definition.responseStream) {
      const stream = client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        requests[0] ?? '',
        metadata,
        callOptions,
        unaryDone,
      );
      stream.on('status', onStatus);
    } else if (definition.requestStream && !definition.responseStream) {
      const stream = client.makeClientStreamRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        metadata,
        callOptions,
        unaryDone,
      );
      stream.on('status', onStatus);
      for (const request of requests) stream.write(request);
      stream.end();
    } else {
      const stream = definition.requestStream
        ? client.makeBidiStreamRequest(
            definition.path,
            definition.requestSerialize,
            definition.responseDeserialize,
            metadata,
            callOptions,
          )
        : client.makeServerStreamRequest(
            definition.path,
            definition.requestSerialize,
            definition.responseDeserialize,
            requests[0] ?? '',
            metadata,
            callOptions,
          );
      stream.on('data', (message: string) => messages.push(message));
      stream.on('error', () => undefined);
      stream.on('status', onStatus);
      stream.on('end', () => {
        ended = true;
        settle();
      });
      // A call that fails never ends its read side: the status is the end.
      stream.on('status', () => {
        ended = true;
        settle();
      });
      if (definition.requestStream) {
        const duplex = stream as unknown as NodeJS.WritableStream;
        for (const request of requests) duplex.write(request);
        duplex.end();
      }
    }
  });
}
