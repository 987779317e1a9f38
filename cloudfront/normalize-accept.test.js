// Tests for the viewer-request function, run with node's built-in runner: `node --test cloudfront/`.
// The function is also evaluated in a bare V8 context (no `module`, no `require`), as CloudFront runs it.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const { handler, acceptClass, ACCEPT_FOR_CLASS } = require('./normalize-accept.js');

const SOURCE = fs.readFileSync(path.join(__dirname, 'normalize-accept.js'), 'utf8');

// A viewer-request event as CloudFront delivers it: header names lower-cased, values as { value }.
function viewerEvent(headers, extra = {}) {
  return {
    version: '1.0',
    context: { eventType: 'viewer-request' },
    viewer: { ip: '192.0.2.10' },
    request: {
      method: 'GET',
      uri: '/_/rs:fit:300:0/plain/s3://bucket/cat.jpg',
      querystring: {},
      headers,
      cookies: {},
      ...extra,
    },
  };
}

const ROWS = [
  ['chrome_sends_avif_first', 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8', 'avif'],
  ['firefox_93_plus_sends_avif', 'image/avif,image/webp,*/*', 'avif'],
  ['firefox_65_to_92_sends_webp_only', 'image/webp,*/*', 'webp'],
  [
    'safari_17_lists_avif_after_webp',
    'image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5',
    'avif',
  ],
  ['safari_14_sends_webp_without_avif', 'image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5', 'webp'],
  ['old_safari_sends_neither', 'image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5', 'other'],
  ['curl_sends_wildcard', '*/*', 'other'],
  ['html_navigation_accept_is_other', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'other'],
  ['empty_value_is_other', '', 'other'],
  ['upper_case_avif_is_avif', 'IMAGE/AVIF,*/*', 'avif'],
  ['mixed_case_webp_is_webp', 'Image/WebP,*/*', 'webp'],
  ['bare_avif_token_is_not_a_media_type', 'avif', 'other'],
];

for (const [name, accept, expected] of ROWS) {
  test(`class: ${name}`, () => {
    assert.equal(acceptClass(accept), expected);
    const request = handler(viewerEvent({ accept: { value: accept } }));
    assert.deepEqual(request.headers.accept, { value: ACCEPT_FOR_CLASS[expected] });
  });
}

test('missing Accept header becomes the other class', () => {
  const request = handler(viewerEvent({ host: { value: 'd111111abcdef8.cloudfront.net' } }));
  assert.deepEqual(request.headers.accept, { value: ACCEPT_FOR_CLASS.other });
});

test('request without a headers object still gets an accept header', () => {
  const event = viewerEvent(undefined);
  delete event.request.headers;
  assert.deepEqual(handler(event).headers.accept, { value: ACCEPT_FOR_CLASS.other });
});

test('repeated Accept headers are read together through multiValue', () => {
  const accept = { value: 'image/png', multiValue: [{ value: 'image/png' }, { value: 'image/webp' }] };
  const request = handler(viewerEvent({ accept }));
  assert.deepEqual(request.headers.accept, { value: ACCEPT_FOR_CLASS.webp });
});

test('everything but Accept is kept as sent', () => {
  const headers = {
    accept: { value: 'image/webp,*/*' },
    'user-agent': { value: 'Mozilla/5.0' },
    'if-none-match': { value: '"abc"' },
  };
  const extra = {
    uri: '/proxy/avatar.webp',
    querystring: { url: { value: 'https://example.com/a.png' }, avatar: { value: '1' } },
    cookies: { session: { value: 'x' } },
  };
  const event = viewerEvent(headers, extra);
  const before = structuredClone(event.request);
  const after = handler(event);
  delete before.headers.accept;
  const { accept, ...rest } = after.headers;
  assert.deepEqual(rest, before.headers);
  assert.equal(after.uri, before.uri);
  assert.equal(after.method, before.method);
  assert.deepEqual(after.querystring, before.querystring);
  assert.deepEqual(after.cookies, before.cookies);
  assert.deepEqual(accept, { value: ACCEPT_FOR_CLASS.webp });
});

test('the cache key sees exactly three Accept values', () => {
  const seen = new Set(ROWS.map(([, accept]) => handler(viewerEvent({ accept: { value: accept } })).headers.accept.value));
  assert.deepEqual([...seen].sort(), Object.values(ACCEPT_FOR_CLASS).sort());
});

test('normalising is idempotent: each written value maps back to its own class', () => {
  for (const [cls, value] of Object.entries(ACCEPT_FOR_CLASS)) {
    assert.equal(acceptClass(value), cls, `${cls} -> ${value}`);
  }
});

// The origin picks AVIF/WebP with a case-sensitive substring test (SPEC §2, as imgproxy): the written values
// must still carry the exact media types, and an avif-class viewer must still be offered WebP.
test('written values still pass the origin format negotiation', () => {
  assert.ok(ACCEPT_FOR_CLASS.avif.includes('image/avif'));
  assert.ok(ACCEPT_FOR_CLASS.avif.includes('image/webp'));
  assert.ok(ACCEPT_FOR_CLASS.webp.includes('image/webp'));
  assert.ok(!ACCEPT_FOR_CLASS.webp.includes('image/avif'));
  assert.ok(!ACCEPT_FOR_CLASS.other.includes('image/'));
});

test('the function runs without node globals, as in the CloudFront runtime', () => {
  const sandbox = vm.createContext({});
  vm.runInContext(SOURCE, sandbox, { filename: 'normalize-accept.js' });
  assert.equal(typeof sandbox.handler, 'function');
  const request = sandbox.handler(viewerEvent({ accept: { value: 'image/avif,*/*' } }));
  assert.equal(request.headers.accept.value, ACCEPT_FOR_CLASS.avif);
});

test('the function source stays within CloudFront limits and uses no node modules', () => {
  assert.ok(Buffer.byteLength(SOURCE) <= 10240, 'CloudFront Functions are limited to 10 KB of code');
  assert.doesNotMatch(SOURCE, /\brequire\s*\(/);
  assert.doesNotMatch(SOURCE, /\bimport\s/);
});
