// The identity provider of the interop tests: panva's oidc-provider (a certified OpenID
// Provider) on 127.0.0.1, configured by config.js beside this file.
//
//   node provider.js PORT KEYS_FILE
//
// PORT 0 picks a free port. The issuer is http://127.0.0.1:<port> (plain HTTP is only
// ever used on loopback). KEYS_FILE holds the private JWKS: read when it exists, else
// generated (one key per signing algorithm) and written, so that a restart on the same
// port (the "provider down" tests) publishes the same keys. When listening, one JSON line
// {"issuer": ...} goes to stdout.
//
// Key rotation, as oidc-provider's documentation recommends it (publish first, sign
// later), through a small admin surface of the tests' own under /interop/ (loopback
// only, never part of a real provider):
//   POST   /interop/keys        {"alg": "RS256"}  publish a new key (last: not yet signing)
//   POST   /interop/keys/<kid>/sign               move it first: it signs from now on
//   DELETE /interop/keys/<kid>                    stop publishing it
// Each rebuilds the Provider over the same storage, as a reload of the process would.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';
// The in-memory adapter, created once so that tokens survive a key rotation's rebuild.
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';

import { configuration } from './config.js';

const [portArg = process.env.PORT ?? '0', keysFile = process.env.KEYS_FILE] = process.argv.slice(2);
if (!keysFile) {
  console.error('usage: node provider.js PORT KEYS_FILE');
  process.exit(2);
}

const KEY_TYPES = {
  RS256: ['rsa', { modulusLength: 2048 }],
  PS256: ['rsa', { modulusLength: 2048 }],
  ES256: ['ec', { namedCurve: 'P-256' }],
  // No "alg" on the OKP key: it signs both "EdDSA" and "Ed25519" (RFC 9864), as a
  // resource asks.
  EdDSA: ['ed25519', {}],
};

function newKey(alg) {
  const [type, options] = KEY_TYPES[alg] ?? [];
  if (!type) throw new Error(`no key type for ${alg}`);
  const jwk = generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' });
  const kid = `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}`;
  return alg === 'EdDSA' ? { ...jwk, kid, use: 'sig' } : { ...jwk, kid, alg, use: 'sig' };
}

let jwks = existsSync(keysFile)
  ? JSON.parse(readFileSync(keysFile, 'utf8'))
  : { keys: Object.keys(KEY_TYPES).map(newKey) };
writeFileSync(keysFile, JSON.stringify(jwks));

const adapter = createMemoryAdapter(15);
let issuer;
let handler;

function rebuild() {
  const provider = new Provider(issuer, { ...configuration, adapter, jwks });
  handler = provider.callback();
  writeFileSync(keysFile, JSON.stringify(jwks));
}

function answer(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function admin(req, res) {
  const parts = new URL(req.url, issuer).pathname.split('/').filter(Boolean); // interop, keys, ...
  const kid = parts[2];
  const index = jwks.keys.findIndex((key) => key.kid === kid);
  if (req.method === 'POST' && parts.length === 2) {
    let text = '';
    for await (const chunk of req) text += chunk;
    const key = newKey(JSON.parse(text || '{}').alg ?? 'RS256');
    jwks = { keys: [...jwks.keys, key] };
    rebuild();
    return answer(res, 201, { kid: key.kid });
  }
  if (index === -1) return answer(res, 404, { error: 'no such key' });
  if (req.method === 'POST' && parts[3] === 'sign') {
    const [key] = jwks.keys.splice(index, 1);
    jwks = { keys: [key, ...jwks.keys] };
  } else if (req.method === 'DELETE' && parts.length === 3) {
    jwks = { keys: jwks.keys.filter((key) => key.kid !== kid) };
  } else {
    return answer(res, 405, { error: 'method not allowed' });
  }
  rebuild();
  return answer(res, 200, { kid });
}

const server = createServer((req, res) => {
  if (req.url.startsWith('/interop/')) {
    admin(req, res).catch((error) => answer(res, 500, { error: String(error) }));
  } else {
    handler(req, res);
  }
});

server.listen(Number(portArg), '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  rebuild();
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

// A stop is an outage: the port closes at once, open connections included.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
