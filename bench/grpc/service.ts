import type { ServiceDefinition } from '@grpc/grpc-js';

/** One unary method whose messages are raw bytes: grpc-js framing without protobuf work. */
const bytes = (value: Buffer) => value;

export const BENCH_SERVICE = {
  Echo: {
    path: '/bench.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
} satisfies ServiceDefinition;
