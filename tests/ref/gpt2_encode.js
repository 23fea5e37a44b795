// Reference GPT-2 encodings from the npm package gpt-3-encoder, for tests that compare
// common/model/tokenizer against it.  "<|endoftext|>" in a text becomes token 50256 (the text is
// split on it and the pieces encoded alone), as our tokenizer and Hugging Face's do.
//
//   node gpt2_encode.js --lines FILE     each line of FILE is a JSON string ('#' lines and
//                                        empty lines skipped): its ids, space-separated
//   node gpt2_encode.js --labels FILE    a short printable label per case of FILE
//   node gpt2_encode.js --file FILE      the ids of the whole file (UTF-8) as one text
//   node gpt2_encode.js --classes        the regex class of every code point but
//                                        surrogates: L (\p{L}), N (\p{N}), S (\s), O
//   node gpt2_encode.js --compare-classes FILE   compare FILE, our classes (L N S O, or
//                                        U for a code point our Unicode data leaves
//                                        unassigned, which counts as O), with --classes:
//                                        prints the first differences, nothing when equal
//   node gpt2_encode.js --random N SEED  N random hard texts as JSON string lines
//   node gpt2_encode.js --random-text BYTES SEED   about BYTES bytes of random hard text
'use strict';
const fs = require('fs');
const path = require('path');
const encoder = require(path.join(__dirname, '../../third_party/node_modules/gpt-3-encoder'));

const EOT = '<|endoftext|>';

function encode(text) {
  let ids = [];
  text.split(EOT).forEach((piece, i) => {
    if (i > 0) ids.push(50256);
    ids = ids.concat(encoder.encode(piece));
  });
  return ids;
}

function cases(file) {
  return fs.readFileSync(file, 'utf8').split('\n')
    .filter(line => line.length > 0 && line[0] !== '#')
    .map(line => JSON.parse(line));
}

// A one-line label without backslashes (a POSIX sh echo would interpret them).
function label(s) {
  const j = JSON.stringify(s).replace(/\\/g, '\u29f5');
  return j.length > 48 ? j.slice(0, 45) + '..."' : j;
}

function classOf(ch) {
  if (/\s/u.test(ch)) return 'S';
  if (/\p{L}/u.test(ch)) return 'L';
  if (/\p{N}/u.test(ch)) return 'N';
  return 'O';
}

function allClasses() {
  const classes = [];
  for (let cp = 0; cp <= 0x10FFFF; cp++) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    classes.push(classOf(String.fromCodePoint(cp)));
  }
  return classes.join('');
}

// mulberry32: a small seeded generator, so that failures reproduce.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Pieces that stress the pre-tokenizer: letters, digits, apostrophes, every kind of space,
// marks, scripts, emoji, the special token.
const PIECES = [
  'a', 'b', 'z', 'E', 'Q', 'the', 'ing', 'Hello', ' ', ' ', '  ', '   ', '\n', '\n\n', '\t',
  '\r\n', '0', '7', '42', '3.14', "'", "'s", "'S", "'ll", "'LL", "'re", "'ve", "'d", "'m",
  "'t", '.', ',', '!', '?', '-', '_', '(', ')', '[', ']', '{', '}', '"', '/', '\\', '#', '=',
  '\u00a0', '\u3000', '\u2028', '\u2029', '\ufeff', '\u0085', '\u200b', '\u2009', '\u1680',
  '\u202f', '\u00ad', '\u000b', '\u001f', '\u0000', '\u00e9', 'e\u0301', '\u0308', '\u00df',
  '\u4e2d', '\u6587', '\u3042', '\u0645', '\u0930\u094d', '\u0416', '\u03a9', '\u0661', '\u216b',
  '\u00bd', '\u00b2', '\ud83e\udd16', '\ud83d\udc4d\ud83c\udffd',
  '\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67', '\ud83c\uddfa\ud83c\uddf8', '\u2764\ufe0f',
  '\u2014', '\u2026', '\u20ac', '<|endoftext|>', '<|', '|>',
];

function randomText(next, npieces) {
  let s = '';
  for (let i = 0; i < npieces; i++) s += PIECES[Math.floor(next() * PIECES.length)];
  return s;
}

const [mode, arg, arg2] = process.argv.slice(2);
const out = [];
if (mode === '--lines') {
  for (const s of cases(arg)) out.push(encode(s).join(' '));
} else if (mode === '--labels') {
  for (const s of cases(arg)) out.push(label(s));
} else if (mode === '--file') {
  out.push(encode(fs.readFileSync(arg, 'utf8')).join(' '));
} else if (mode === '--classes') {
  out.push(allClasses());
} else if (mode === '--compare-classes') {
  const ours = fs.readFileSync(arg, 'utf8').trim();
  const ref = allClasses();
  let newer = 0;
  if (ours.length !== ref.length) out.push('lengths differ: ' + ours.length + ' vs ' + ref.length);
  for (let i = 0; i < ours.length && i < ref.length && out.length < 5; i++) {
    if (ours[i] === ref[i] || (ours[i] === 'U' && ref[i] === 'O')) continue;
    if (ours[i] === 'U') { newer++; continue; }   // assigned after our Unicode version
    const cp = i < 0xD800 ? i : i + 0x800;
    out.push('U+' + cp.toString(16).toUpperCase() + ': ours ' + ours[i] + ' ref ' + ref[i]);
  }
  process.stderr.write('# code points newer than our Unicode data: ' + newer + '\n');
  if (out.length === 0) process.exit(0);
} else if (mode === '--random') {
  const next = rng(Number(arg2));
  for (let i = 0; i < Number(arg); i++) out.push(JSON.stringify(randomText(next, 1 + Math.floor(next() * 40))));
} else if (mode === '--random-text') {
  const next = rng(Number(arg2));
  let s = '';
  while (Buffer.byteLength(s) < Number(arg)) s += randomText(next, 1000);
  process.stdout.write(s);
  process.exit(0);
} else {
  process.stderr.write('usage: node gpt2_encode.js --lines|--labels|--file|--compare-classes FILE | --classes | --random N SEED | --random-text BYTES SEED\n');
  process.exit(2);
}
process.stdout.write(out.join('\n') + '\n');
