// CloudFront viewer-request function (runtime cloudfront-js-2.0): collapses the viewer's Accept header into
// one of three classes so the cache holds at most three variants of each image (docs/DEPLOY.md "Caching").
// The origin negotiates formats with a substring test for image/avif and image/webp (SPEC §2, as imgproxy),
// so each class is written back as a short Accept value that still passes that test: the cache key sees
// three values and the origin sees a header it understands. Everything else in the request is kept.
// template.yaml inlines this file verbatim; scripts/check-deploy fails when the two differ.

var ACCEPT_FOR_CLASS = {
  avif: 'image/avif,image/webp,*/*',
  webp: 'image/webp,*/*',
  other: '*/*'
};

// Media types are case-insensitive (RFC 9110 §8.3.1), so the class is decided on the lower-cased value.
function acceptClass(accept) {
  var value = String(accept || '').toLowerCase();
  if (value.indexOf('image/avif') !== -1) {
    return 'avif';
  }
  if (value.indexOf('image/webp') !== -1) {
    return 'webp';
  }
  return 'other';
}

// A repeated Accept header arrives as multiValue; its values together are what the viewer accepts.
function viewerAccept(headers) {
  var header = headers.accept;
  if (!header) {
    return '';
  }
  if (header.multiValue && header.multiValue.length > 0) {
    return header.multiValue.map(function (entry) { return entry.value; }).join(',');
  }
  return header.value;
}

function handler(event) {
  var request = event.request;
  request.headers = request.headers || {};
  request.headers.accept = { value: ACCEPT_FOR_CLASS[acceptClass(viewerAccept(request.headers))] };
  return request;
}

// CloudFront Functions have no `module`; node's test runner does, and imports the handler through it.
if (typeof module !== 'undefined') {
  module.exports = { handler: handler, acceptClass: acceptClass, ACCEPT_FOR_CLASS: ACCEPT_FOR_CLASS };
}
