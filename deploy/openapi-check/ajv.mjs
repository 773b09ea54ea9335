#!/usr/bin/env node
// Validates records with ajv, independent of the gateway, against the record
// schemas it publishes (GET /v1/schemas/{kind}), as a partner would:
// draft 2020-12 (ajv/dist/2020), every format of ajv-formats asserted, and
// strict mode on, so a schema ajv would only warn about fails to compile.
//
//   node ajv.mjs SCHEMA.json...
//
// Each argument is one kind's standalone schema; a schema that does not
// compile is printed and the exit status is 2. Standard input is NDJSON, one
// case a line: {"name": ..., "record": ...}. Each case is answered on
// standard output, one line each, in order: {"name": ..., "valid": bool,
// "errors": [{"pointer", "message"}]}. A record that is not an object or
// whose kind names no schema is invalid, as at the gateway.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);

const validators = new Map();
let failed = false;
for (const file of process.argv.slice(2)) {
  const schema = JSON.parse(readFileSync(file, "utf8"));
  const kind = schema.properties?.kind?.const;
  try {
    validators.set(kind, ajv.compile(schema));
  } catch (err) {
    console.error(`${file}: ${err.message}`);
    failed = true;
  }
}
if (failed) {
  process.exit(2);
}
if (validators.size === 0) {
  console.error("usage: node ajv.mjs SCHEMA.json... < cases.ndjson");
  process.exit(2);
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim() === "") {
    continue;
  }
  const { name, record } = JSON.parse(line);
  const validate =
    record !== null && typeof record === "object" && !Array.isArray(record)
      ? validators.get(record.kind)
      : undefined;
  let answer;
  if (validate === undefined) {
    answer = { name, valid: false, errors: [{ pointer: "/kind", message: "no schema for this record" }] };
  } else if (validate(record)) {
    answer = { name, valid: true };
  } else {
    answer = {
      name,
      valid: false,
      errors: validate.errors.map((e) => ({ pointer: e.instancePath, message: `${e.keyword}: ${e.message}` })),
    };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
