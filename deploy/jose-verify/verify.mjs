#!/usr/bin/env node
// Independent check of ura's signatures with the `jose` npm package and
// node's own SHA-256: nothing here shares code with the gateway that signed.
//
//   node verify.mjs JWKS_FILE < lines
//   node verify.mjs --pull JWKS_FILE < saved-pull.ndjson
//   node verify.mjs --page JWKS_FILE < saved-page.json
//   node verify.mjs --record JWKS_FILE < saved-get.json
//   node verify.mjs --push JWKS_FILE < saved-push-answer.json
//
// Lines mode: each non-empty stdin line is a compact JWS. For each, one JSON
// line is written to stdout:
//   {"line":1,"valid":true,"kid":"ura-signing:3","alg":"EdDSA","typ":"ura-delivery+jws","payload":"…"}
//   {"line":2,"valid":false,"error":"ERR_JWS_SIGNATURE_VERIFICATION_FAILED: signature verification failed"}
//
// Pull mode: stdin is a saved NDJSON pull, checked as gateway/ARCHITECTURE.md
// ("Signing") defines: every line before the last is a record line
// {"id","version","jws"} whose JWS is a delivery (typ ura-delivery+jws) of
// that record; the last line is the trailer, whose JWS (typ ura-trailer+jws)
// counts those lines and carries "sha256:" + the hex SHA-256 of every byte
// before the trailer's line; its plain fields equal the signed ones and its
// recipient is every record's. One output line per record line as above,
// then always one for the trailer:
//   {"line":4,"trailer":true,"valid":true,"kid":"…","records":3,"complete":true,"payload":"…"}
//   {"trailer":true,"valid":false,"error":"no trailer: …"}
//
// A record line is {"id","version","jws"} (proof profile jws) or, under the
// chunk profile, {"id","version","delivery","proof"}: delivery is the
// delivery payload (base64url), proof {"leaf_index","tree_size",
// "inclusion_path","root"}; root is a JWS (typ ura-chunk+jws) over
// {"root":"sha256:<hex>","tree_size","typ_of_leaves":"ura-delivery",
// "recipient","iss","iat"}. Such a line verifies alone: the root's JWS, the
// leaf hash SHA-256(0x00 || delivery), and the inclusion path to the signed
// root (RFC 9162 §2.1.3.2, node = SHA-256(0x01 || left || right)), with
// tree_size the signed one, and the delivery's recipient and iss the
// root's. --page checks a JSON page ({"records":[…]}) line by line, and
// --record one line as GET /v1/records/{id} answers it; neither has a
// trailer.
//
// --push checks a push answer ({"results":[…]}) result by result: a result
// is {"index","id","version","status",…,"jws"} whose JWS has typ
// ura-result+jws (proof profile jws) or, under the chunk profile,
// {…,"result","proof"}: result is the result's signed payload (base64url)
// and proof as a line's, under a root whose typ_of_leaves is "ura-result"
// (never a delivery's root, and a pull line never under a result's). Each
// plain field present beside the signature (index, id, version, status,
// reasons, errors, decision_id, digest, audit_seq) must equal the signed
// one.
//
// A JWS whose protected header carries a label must deliver a record with
// the same label (compared as JSON values).
//
// The exit status is 1 when anything is invalid, 2 on a usage or JWKS error.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { isDeepStrictEqual } from 'node:util';
import { compactVerify, createLocalJWKSet } from 'jose';

// The gateway signs with EdDSA (Ed25519) and ES256 only; anything else,
// "none" and HMAC included, must fail here too.
const algorithms = ['EdDSA', 'ES256'];
// Headers that name a key or change how the JWS is read are refused: keys
// come from the JWKS file, never from the token.
const forbidden = ['jku', 'x5u', 'jwk', 'x5c', 'crit', 'b64'];
const typDelivery = 'ura-delivery+jws';
const typTrailer = 'ura-trailer+jws';
const typChunk = 'ura-chunk+jws';
const typResult = 'ura-result+jws';
const leavesDelivery = 'ura-delivery';
const leavesResult = 'ura-result';
// A push result's fields outside its signature.
const resultFields = ['index', 'id', 'version', 'status', 'reasons', 'errors', 'decision_id', 'digest', 'audit_seq'];

const args = process.argv.slice(2);
const mode = ['--pull', '--page', '--record', '--push'].includes(args[0]) ? args[0] : undefined;
const pull = mode !== undefined;
if (args.length !== (pull ? 2 : 1)) {
  console.error('usage: node verify.mjs JWKS_FILE < jws-lines\n       node verify.mjs --pull|--page|--record|--push JWKS_FILE < saved-answer');
  process.exit(2);
}

let keys;
try {
  const jwks = JSON.parse(readFileSync(args[pull ? 1 : 0], 'utf8'));
  keys = createLocalJWKSet(jwks);
} catch (e) {
  console.error(`jwks: ${e.message}`);
  process.exit(2);
}

const decoder = new TextDecoder('utf-8', { fatal: true });

// verify checks one compact JWS and returns its header and payload text.
async function verify(jws, typ, where = 'a pull has') {
  const { payload, protectedHeader } = await compactVerify(jws, keys, { algorithms });
  for (const h of forbidden) {
    if (h in protectedHeader) throw new Error(`header ${h} not allowed`);
  }
  if (!protectedHeader.kid) throw new Error('no kid');
  if (typ !== undefined && protectedHeader.typ !== typ) {
    throw new Error(`typ ${JSON.stringify(protectedHeader.typ)} where ${where} ${JSON.stringify(typ)}`);
  }
  const text = decoder.decode(payload);
  // A label in the protected header (STANAG 4778 binding) must be the
  // delivered record's label.
  if ('label' in protectedHeader) {
    let record;
    try {
      record = JSON.parse(text).record;
    } catch {
      record = undefined;
    }
    if (record === null || typeof record !== 'object' || !isDeepStrictEqual(protectedHeader.label, record.label)) {
      throw new Error('the label in the protected header is not the delivered record\'s');
    }
  }
  return { kid: protectedHeader.kid, alg: protectedHeader.alg, typ: protectedHeader.typ, payload: text };
}

function failure(e) {
  return `${e.code ?? e.name}: ${e.message}`;
}

// b64url decodes canonical base64url without padding, or throws.
function b64url(s, what) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw new Error(`${what} is not base64url`);
  const b = Buffer.from(s, 'base64url');
  if (b.toString('base64url') !== s) throw new Error(`${what} is not base64url`);
  return b;
}

const sha256 = (...parts) => createHash('sha256').update(Buffer.concat(parts)).digest();

// rootFromPath is RFC 9162 §2.1.3.2: the root that leafHash at index in a
// tree of size leaves gives with path, or undefined when the path cannot
// be one of that index and size.
function rootFromPath(leafHash, index, size, path) {
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  let r = leafHash;
  for (const p of path) {
    if (sn === 0n) return undefined;
    if ((fn & 1n) === 1n || fn === sn) {
      r = sha256(Buffer.from([1]), p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = sha256(Buffer.from([1]), r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? r : undefined;
}

// roots holds each chunk root already verified: one signature check per
// chunk, not per line.
const roots = new Map();

async function verifyRoot(jws) {
  if (typeof jws !== 'string' || jws === '') throw new Error('the proof has no root');
  if (roots.has(jws)) return roots.get(jws);
  const r = await verify(jws, typChunk, 'a chunk root has');
  const chunk = JSON.parse(r.payload);
  if (typeof chunk.root !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(chunk.root)) throw new Error('the signed root is not sha256:<64 lowercase hex>');
  if (!Number.isSafeInteger(chunk.tree_size) || chunk.tree_size < 1) throw new Error(`the signed root has tree_size ${chunk.tree_size}`);
  if (chunk.typ_of_leaves !== leavesDelivery && chunk.typ_of_leaves !== leavesResult) {
    throw new Error(`the signed root's leaves are ${JSON.stringify(chunk.typ_of_leaves)}`);
  }
  const out = { ...r, chunk, root: Buffer.from(chunk.root.slice(7), 'hex') };
  roots.set(jws, out);
  return out;
}

// verifyChunkLine checks one chunk-profile line alone, as the header says:
// leaves is what its root must hold, a pull's deliveries or a push's
// results, whose payload the line carries as "delivery" or "result".
async function verifyChunkLine(obj, leaves = leavesDelivery) {
  const noun = leaves === leavesResult ? 'result' : 'delivery';
  const p = obj.proof;
  if (p === null || typeof p !== 'object' || !Array.isArray(p.inclusion_path)) throw new Error('proof is not a chunk proof');
  const r = await verifyRoot(p.root);
  if (r.chunk.typ_of_leaves !== leaves) {
    throw new Error(`the signed root's leaves are ${JSON.stringify(r.chunk.typ_of_leaves)}, want ${JSON.stringify(leaves)}`);
  }
  const n = r.chunk.tree_size;
  if (p.tree_size !== n) throw new Error(`the line says tree_size ${p.tree_size}, the signed root ${n}`);
  if (!Number.isSafeInteger(p.leaf_index) || p.leaf_index < 0 || p.leaf_index >= n) throw new Error(`leaf_index ${p.leaf_index} outside a tree of ${n}`);
  if (p.inclusion_path.length > 64) throw new Error('an inclusion path too long for any tree');
  const leaf = b64url(obj[noun], `the ${noun}`);
  const path = p.inclusion_path.map((h, i) => {
    const b = b64url(h, `inclusion_path[${i}]`);
    if (b.length !== 32) throw new Error(`inclusion_path[${i}] is ${b.length} bytes, not 32`);
    return b;
  });
  const got = rootFromPath(sha256(Buffer.from([0]), leaf), p.leaf_index, n, path);
  if (got === undefined || !got.equals(r.root)) {
    throw new Error(`the ${noun} and its inclusion path do not lead to the signed root`);
  }
  const text = decoder.decode(leaf);
  const d = JSON.parse(text);
  // A delivery carries a record and a result a status, never the other.
  const isDelivery = d !== null && typeof d.record === 'object' && d.record !== null && !('status' in d);
  const isResult = d !== null && typeof d.status === 'string' && !('record' in d);
  if (leaves === leavesDelivery ? !isDelivery : !isResult) throw new Error(`the leaf is not a ${noun}`);
  if (d.recipient !== r.chunk.recipient || d.iss !== r.chunk.iss) {
    throw new Error(`the ${noun} was made for ${d.recipient} by ${d.iss}, the chunk for ${r.chunk.recipient} by ${r.chunk.iss}`);
  }
  return { kid: r.kid, alg: r.alg, typ: r.typ, leaf_index: p.leaf_index, tree_size: n, payload: text };
}

// verifyResult checks one push result of either profile, and that its
// plain fields are the signed ones.
async function verifyResult(obj) {
  let r;
  if ('proof' in obj) {
    r = await verifyChunkLine(obj, leavesResult);
  } else if (typeof obj.jws === 'string') {
    r = await verify(obj.jws, typResult, 'a push answer has');
  } else {
    throw new Error('no jws: the result is not signed');
  }
  const signed = JSON.parse(r.payload);
  if (typeof signed?.status !== 'string') throw new Error('the signed payload is not a push result');
  for (const name of resultFields) {
    if (name in obj && !isDeepStrictEqual(obj[name], signed[name])) throw new Error(`the result's ${name} differs from the signed one`);
  }
  return r;
}

// verifyRecordLine checks one record line of either profile, and that it
// names the record it delivers.
async function verifyRecordLine(obj) {
  if ('next_cursor' in obj) throw new Error('a trailer before the end of the stream');
  let r;
  if ('proof' in obj) {
    r = await verifyChunkLine(obj);
  } else if (typeof obj.jws === 'string') {
    r = await verify(obj.jws, typDelivery);
  } else {
    throw new Error('no jws: the record is not signed');
  }
  const p = JSON.parse(r.payload);
  if (p.record?.id !== obj.id || p.record?.version !== obj.version) {
    throw new Error(`the line says ${obj.id} v${obj.version} but the signed record is ${p.record?.id} v${p.record?.version}`);
  }
  return { r, recipient: p.recipient };
}

let invalid = 0;
if (mode === '--pull') {
  await verifyPull();
} else if (mode === '--push') {
  const list = parseObject((await readStdin()).toString('utf8'))?.results;
  if (!Array.isArray(list) || list.length === 0) {
    console.error('not a push answer: no results');
    process.exit(2);
  }
  for (const [i, res] of list.entries()) {
    try {
      if (res === null || typeof res !== 'object') throw new Error('not a JSON object');
      console.log(JSON.stringify({ result: i, valid: true, ...(await verifyResult(res)) }));
    } catch (e) {
      invalid++;
      console.log(JSON.stringify({ result: i, valid: false, error: failure(e) }));
    }
  }
} else if (mode === '--page' || mode === '--record') {
  const obj = parseObject((await readStdin()).toString('utf8'));
  const list = mode === '--page' ? obj?.records : (obj === undefined ? undefined : [obj]);
  if (!Array.isArray(list) || list.length === 0) {
    console.error(mode === '--page' ? 'not a page: no records' : 'not a record line');
    process.exit(2);
  }
  for (const [i, rec] of list.entries()) {
    try {
      if (rec === null || typeof rec !== 'object') throw new Error('not a JSON object');
      const { r } = await verifyRecordLine(rec);
      console.log(JSON.stringify({ record: i, valid: true, ...r }));
    } catch (e) {
      invalid++;
      console.log(JSON.stringify({ record: i, valid: false, error: failure(e) }));
    }
  }
} else {
  let n = 0;
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const raw of rl) {
    n++;
    const jws = raw.trim();
    if (jws === '') continue;
    try {
      console.log(JSON.stringify({ line: n, valid: true, ...(await verify(jws)) }));
    } catch (e) {
      invalid++;
      console.log(JSON.stringify({ line: n, valid: false, error: failure(e) }));
    }
  }
}
// exitCode, not exit(): a large report on a pipe is flushed before node ends.
process.exitCode = invalid > 0 ? 1 : 0;

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks);
}

// parseObject is a line's JSON object, or undefined.
function parseObject(text) {
  try {
    const v = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

async function verifyPull() {
  const data = await readStdin();
  // Lines with the offset of their first byte; the text is exact bytes
  // decoded, so nothing is normalised before it is hashed.
  const lines = [];
  for (let start = 0; start < data.length;) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length;
    lines.push({ start, text: data.subarray(start, end).toString('utf8') });
    start = end + 1;
  }
  let last = lines.length - 1;
  while (last >= 0 && lines[last].text.trim() === '') last--;
  const closing = last >= 0 ? parseObject(lines[last].text) : undefined;
  const hasTrailer = closing !== undefined && 'next_cursor' in closing && !Array.isArray(closing.records);
  const body = lines.slice(0, hasTrailer ? last : last + 1);

  const recipients = [];
  for (const [i, l] of body.entries()) {
    const n = i + 1;
    try {
      const obj = parseObject(l.text);
      if (obj === undefined) throw new Error('not a JSON object');
      const { r, recipient } = await verifyRecordLine(obj);
      recipients.push({ line: n, recipient });
      console.log(JSON.stringify({ line: n, valid: true, ...r }));
    } catch (e) {
      invalid++;
      console.log(JSON.stringify({ line: n, valid: false, error: failure(e) }));
    }
  }

  if (!hasTrailer) {
    invalid++;
    console.log(JSON.stringify({ trailer: true, valid: false, error: 'no trailer: the stream was cut off, or its trailer removed' }));
    return;
  }
  const n = last + 1;
  try {
    if (typeof closing.jws !== 'string') throw new Error('the trailer is not signed');
    const r = await verify(closing.jws, typTrailer);
    const signed = JSON.parse(r.payload);
    if (signed.records !== body.length) {
      throw new Error(`the trailer counts ${signed.records} records, the file holds ${body.length} lines before it`);
    }
    const digest = 'sha256:' + createHash('sha256').update(data.subarray(0, lines[last].start)).digest('hex');
    if (signed.digest !== digest) {
      throw new Error("the lines do not match the trailer's digest: a line was changed, removed, added, repeated or moved");
    }
    for (const name of ['next_cursor', 'complete', 'records', 'digest', 'error']) {
      if (!isDeepStrictEqual(closing[name], signed[name])) throw new Error(`the trailer's ${name} differs from the signed one`);
    }
    for (const r of recipients) {
      if (r.recipient !== signed.recipient) {
        throw new Error(`line ${r.line} was signed for ${r.recipient}, the trailer for ${signed.recipient}`);
      }
    }
    console.log(JSON.stringify({ line: n, trailer: true, valid: true, records: signed.records, complete: signed.complete, ...r }));
  } catch (e) {
    invalid++;
    console.log(JSON.stringify({ line: n, trailer: true, valid: false, error: failure(e) }));
  }
}
