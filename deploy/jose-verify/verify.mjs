#!/usr/bin/env node
// Independent check of ura's signatures with the `jose` npm package: nothing
// here shares code with the gateway that signed.
//
//   node verify.mjs JWKS_FILE < lines
//
// Each non-empty stdin line is a compact JWS. For each, one JSON line is
// written to stdout:
//   {"line":1,"valid":true,"kid":"ura-signing:3","alg":"EdDSA","typ":"ura-delivery+jws","payload":"…"}
//   {"line":2,"valid":false,"error":"ERR_JWS_SIGNATURE_VERIFICATION_FAILED: signature verification failed"}
// The exit status is 1 when any line is invalid, 2 on a usage or JWKS error.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { compactVerify, createLocalJWKSet } from 'jose';

// The gateway signs with EdDSA (Ed25519) and ES256 only; anything else,
// "none" and HMAC included, must fail here too.
const algorithms = ['EdDSA', 'ES256'];
// Headers that name a key or change how the JWS is read are refused: keys
// come from the JWKS file, never from the token.
const forbidden = ['jku', 'x5u', 'jwk', 'x5c', 'crit', 'b64'];

if (process.argv.length !== 3) {
  console.error('usage: node verify.mjs JWKS_FILE < jws-lines');
  process.exit(2);
}

let keys;
try {
  const jwks = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  keys = createLocalJWKSet(jwks);
} catch (e) {
  console.error(`jwks: ${e.message}`);
  process.exit(2);
}

const decoder = new TextDecoder('utf-8', { fatal: true });
let invalid = 0;
let n = 0;
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const raw of rl) {
  n++;
  const jws = raw.trim();
  if (jws === '') continue;
  try {
    const { payload, protectedHeader } = await compactVerify(jws, keys, { algorithms });
    for (const h of forbidden) {
      if (h in protectedHeader) throw new Error(`header ${h} not allowed`);
    }
    if (!protectedHeader.kid) throw new Error('no kid');
    console.log(JSON.stringify({
      line: n, valid: true, kid: protectedHeader.kid, alg: protectedHeader.alg,
      typ: protectedHeader.typ, payload: decoder.decode(payload),
    }));
  } catch (e) {
    invalid++;
    console.log(JSON.stringify({ line: n, valid: false, error: `${e.code ?? e.name}: ${e.message}` }));
  }
}
process.exit(invalid > 0 ? 1 : 0);
