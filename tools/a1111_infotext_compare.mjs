// a1111_infotext_compare.mjs — compares A1111's own parse (tools/a1111_infotext_check.py's output)
// with our JavaScript port (tests/api/lib/a1111_infotext.mjs) on tests/fixtures/a1111/infotexts.json;
// the API test checks the C port (/sdapi/v1/png-info) against the JavaScript one on the same texts.
//   node tools/a1111_infotext_compare.mjs /tmp/a1111_parsed.json      (exit 1 on any difference)
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { parseGenerationParameters } from '../tests/api/lib/a1111_infotext.mjs';

const texts = JSON.parse(readFileSync(new URL('../tests/fixtures/a1111/infotexts.json', import.meta.url), 'utf8'));
const theirs = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let bad = 0;
texts.forEach((t, i) => {
  const ours = parseGenerationParameters(t);
  if (!isDeepStrictEqual(ours, theirs[i])) {
    bad++;
    console.log(`differs on ${JSON.stringify(t)}:\n  A1111: ${JSON.stringify(theirs[i])}\n  ours:  ${JSON.stringify(ours)}`);
  }
});
console.log(`${texts.length - bad} passed, ${bad} failed`);
process.exit(bad ? 1 : 0);
