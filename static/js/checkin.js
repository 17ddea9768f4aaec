// The room's check-in screen: fetch the current code and QR when the old one
// runs out, and count down in between. The page refreshes itself without JS.
(function () {
  'use strict';
  const root = document.getElementById('checkin-screen');
  if (!root) return;
  const qr = document.getElementById('checkin-qr');
  const code = document.getElementById('checkin-code');
  const timer = document.getElementById('checkin-timer');
  const open = document.getElementById('checkin-open');
  const closed = document.getElementById('checkin-closed');
  const error = document.getElementById('checkin-error');
  let left = Number(timer ? timer.value : 30);
  let stateNow = open.classList.contains('d-none') ? 'closed' : 'open';

  function show(data) {
    stateNow = data.state;
    open.classList.toggle('d-none', data.state !== 'open');
    closed.classList.toggle('d-none', data.state === 'open');
    closed.querySelectorAll('[data-state]').forEach((p) => { p.hidden = p.dataset.state !== data.state; });
    if (data.state === 'open') {
      qr.src = data.qr;
      code.textContent = data.code;
    }
    left = data.seconds_left;
    if (timer) { timer.max = data.period; timer.value = left; }
  }

  async function refresh() {
    try {
      const response = await fetch(root.dataset.url, { credentials: 'same-origin', cache: 'no-store' });
      if (!response.ok) throw new Error(String(response.status));
      show(await response.json());
      error.classList.add('d-none');
    } catch (e) {
      error.textContent = root.dataset.msgOffline;
      error.classList.remove('d-none');
      left = 5;
    }
  }

  setInterval(() => {
    left -= 1;
    if (timer) timer.value = Math.max(left, 0);
    // Closed screens check every 15 s whether check-in has opened.
    if (left <= 0 || (stateNow !== 'open' && left % 15 === 0)) refresh();
  }, 1000);
}());
