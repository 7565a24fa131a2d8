// a1111_infotext.mjs — AUTOMATIC1111's parse_generation_parameters (modules/infotext_utils.py,
// v1.10.1), ported line by line to JavaScript so the API tests read our PNG "parameters" text by
// A1111's own rules. The pattern is A1111's re_param_code copied exactly; JavaScript's matchAll
// with /g moves on one character after a failed match, as Python's re.findall does. Known
// differences: JavaScript's \w is ASCII-only (Python's is Unicode), and A1111's option-dependent
// steps (prompt styles, infotext_skip_pasting, version back-compat) are left out as our server's
// port leaves them out. tools/a1111_infotext_check.py runs A1111's own Python function on the
// same texts for comparison.
const reParam = /\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;
const reImagesize = /^(\d+)x(\d+)$/;

function unquote(text) {
  if (text.length === 0 || text[0] !== '"' || text[text.length - 1] !== '"') return text;
  try { return JSON.parse(text); } catch { return text; }
}

const pyStrip = (s) => s.replace(/^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g, '');

export function parseGenerationParameters(x) {
  const res = {};
  let prompt = '';
  let negativePrompt = '';
  let doneWithPrompt = false;
  const lines = pyStrip(x).split('\n');
  let lastline = lines.pop();
  if ([...lastline.matchAll(reParam)].length < 3) {
    lines.push(lastline);
    lastline = '';
  }
  for (let line of lines) {
    line = pyStrip(line);
    if (line.startsWith('Negative prompt:')) {
      doneWithPrompt = true;
      line = pyStrip(line.slice(16));
    }
    if (doneWithPrompt) negativePrompt += (negativePrompt === '' ? '' : '\n') + line;
    else prompt += (prompt === '' ? '' : '\n') + line;
  }
  res.Prompt = prompt;
  res['Negative prompt'] = negativePrompt;
  for (const [, k, v0] of lastline.matchAll(reParam)) {
    let v = v0;
    if (v.length === 0) continue; // A1111: v[0] raises IndexError, the key is skipped
    if (v[0] === '"' && v[v.length - 1] === '"') v = unquote(v);
    const m = typeof v === 'string' ? v.match(reImagesize) : null;
    if (m) {
      res[`${k}-1`] = m[1];
      res[`${k}-2`] = m[2];
    } else {
      res[k] = v;
    }
  }
  const defaults = {
    'Clip skip': '1', 'Hires resize-1': 0, 'Hires resize-2': 0, 'Hires sampler': 'Use same sampler',
    'Hires checkpoint': 'Use same checkpoint', 'Hires prompt': '', 'Hires negative prompt': '',
    'Mask mode': 'Inpaint masked', 'Masked content': 'original', 'Inpaint area': 'Whole picture',
    'Masked area padding': 32, RNG: 'GPU', 'Schedule type': 'Automatic', 'Schedule max sigma': 0,
    'Schedule min sigma': 0, 'Schedule rho': 0, 'VAE Encoder': 'Full', 'VAE Decoder': 'Full', 'FP8 weight': 'Disable',
  };
  for (const [k, v] of Object.entries(defaults)) if (!(k in res)) res[k] = v;
  return res;
}
