import type { ServerResponse } from 'node:http';

/**
 * `Expect` (RFC 9110 §10.1.1): `100-continue` is the only expectation defined, and a server
 * that gets any other MAY answer 417. Both server engines take the strict choice: only a list
 * made of `100-continue` alone (any case, OWS around it) gets the handler's 100; anything
 * else in it, `foo, 100-continue` included, gets 417. node:http would send a 100 for that
 * list (it searches the value for the word), nginx ignores every Expect but the exact
 * `100-continue` (neither 100 nor 417).
 */
export function expectsContinueOnly(value: string): boolean {
  for (const member of value.split(',')) {
    if (member.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase() !== '100-continue') return false;
  }
  return true;
}

/** 417, and the connection closes: the body the client may still send is not read. */
export function refuseExpectation(res: ServerResponse): void {
  res.writeHead(417, { 'content-length': '0', connection: 'close' });
  res.end();
}
