// Parses an AsyncAPI document with the official parser (@asyncapi/parser) and prints its diagnostics,
// one JSON object a line. Exits 1 when the document does not parse or any diagnostic is an error.
//   node validate.mjs docs/asyncapi.yaml
import { readFile } from 'node:fs/promises';
import { Parser } from '@asyncapi/parser';

const SEVERITY = ['error', 'warning', 'information', 'hint'];  // spectral's DiagnosticSeverity 0..3

const path = process.argv[2];
if (!path) {
  console.error('usage: node validate.mjs <asyncapi document>');
  process.exit(2);
}
const { document, diagnostics } = await new Parser().parse(await readFile(path, 'utf8'), { source: path });
for (const d of diagnostics) {
  console.log(JSON.stringify({
    severity: SEVERITY[d.severity] ?? String(d.severity), code: d.code, message: d.message,
    path: d.path.join('.'), line: d.range.start.line + 1,
  }));
}
const errors = diagnostics.filter((d) => d.severity === 0).length;
if (document === undefined || errors > 0) {
  console.error(`${path}: ${errors} error(s); the document ${document === undefined ? 'does not' : 'does'} parse`);
  process.exit(1);
}
