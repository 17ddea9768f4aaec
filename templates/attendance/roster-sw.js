// The roster's service worker (scope /meetings/): a roster page that has been
// visited opens again without a connection, so a dead Wi-Fi at 9:00 does not
// stop a trainer. Pages: network first, the last good copy when offline.
// Assets (/static/): the cached copy at once, refreshed in the background.
// Marks are never cached here: the page keeps them in its own outbox.
'use strict';
const CACHE = 'roster-v1';
const ROSTER = /^\/meetings\/\d+\/roster$/;

self.addEventListener('install', (event) => { self.skipWaiting(); });
self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith('roster-') && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (ROSTER.test(url.pathname) && request.mode === 'navigate') {
    event.respondWith(fetch(request).then((response) => {
      if (response.ok && !response.redirected) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
      }
      return response;
    }).catch(() => caches.open(CACHE).then((cache) => cache.match(url.pathname))
      .then((hit) => hit || Response.error())));
    return;
  }
  if (url.pathname.startsWith('/static/') || url.pathname.startsWith('/bootstrap/')) {
    event.respondWith(caches.open(CACHE).then((cache) => cache.match(request).then((hit) => {
      const fresh = fetch(request).then((response) => {
        if (response.ok) cache.put(request, response.clone());
        return response;
      }).catch(() => hit || Response.error());
      return hit || fresh;
    })));
  }
});
