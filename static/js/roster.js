// Roster: one tap per status, "mark all present", one save, and marks that
// survive a dropped connection.
//
// Saving puts every changed row into an outbox kept in localStorage (one per
// meeting), each mark with its own idempotency key, then sends the outbox.
// If the network is down the marks stay in the outbox, shown as pending, and
// are sent again when the browser comes back online (and every 20 s). The
// server records each key once, so a mark delivered twice counts once.
// Each mark carries when it was made on this device (recorded_at): the server
// keeps the newest fact, so an old offline mark never replaces a newer one
// (e.g. a trainee's self check-in); such marks come back as conflicts, shown
// here with a choice to keep the register or use the mark after all.
// A service worker keeps the page and its assets, so the roster opens offline
// once it has been visited. Without JavaScript the form posts normally.
(function () {
  'use strict';
  const form = document.getElementById('roster-form');
  if (!form) return;

  const meetingId = form.dataset.meeting;
  const storeKey = 'attendance-outbox:' + meetingId;
  const banner = document.getElementById('roster-status');
  const saveButton = document.getElementById('save-roster');
  const pendingBadge = document.getElementById('pending-count');
  let csrf = (form.querySelector('input[name="csrf_token"]') || {}).value || '';
  const conflictBox = document.getElementById('roster-conflicts');
  const conflictList = document.getElementById('conflict-list');
  const finaliseForm = document.getElementById('finalise-form');
  const rows = Array.from(form.querySelectorAll('.roster-row'));
  const byId = new Map(rows.map((row) => [row.dataset.enrolment, row]));
  let sending = false;

  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => (k in values ? values[k] : ''));

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function loadOutbox() {
    try { return JSON.parse(localStorage.getItem(storeKey) || '[]'); } catch (e) { return []; }
  }
  function saveOutbox(items) {
    try {
      if (items.length) localStorage.setItem(storeKey, JSON.stringify(items));
      else localStorage.removeItem(storeKey);
    } catch (e) { /* storage full or blocked: marks stay in memory for this page */ }
    memoryOutbox = items;
  }
  let memoryOutbox = loadOutbox();

  const statusOf = (row) => {
    const checked = row.querySelector('input[type=radio]:checked');
    return checked ? checked.value : '';
  };
  const noteOf = (row) => (row.querySelector('.note-field input') || {}).value || '';
  function setStatus(row, status) {
    const input = row.querySelector('input[type=radio][value="' + status + '"]');
    if (input && !input.disabled) input.checked = true;
  }

  function isChanged(row) {
    return statusOf(row) !== (row.dataset.savedStatus || '') ||
      (statusOf(row) !== '' && noteOf(row).trim() !== (row.dataset.savedNote || ''));
  }

  function refresh() {
    const counts = { present: 0, late: 0, absent: 0, excused: 0, unmarked: 0 };
    let changed = 0;
    const pendingIds = new Set(memoryOutbox.map((m) => String(m.enrolment_id)));
    rows.forEach((row) => {
      const status = statusOf(row);
      counts[status || 'unmarked'] += 1;
      const dirty = isChanged(row) && !pendingIds.has(row.dataset.enrolment);
      row.classList.toggle('is-changed', dirty);
      if (dirty) changed += 1;
      const pending = pendingIds.has(row.dataset.enrolment);
      row.classList.toggle('is-pending', pending);
      row.querySelector('.roster-pending').classList.toggle('d-none', !pending);
      row.dataset.status = status;
    });
    Object.entries(counts).forEach(([k, v]) => {
      const el = form.querySelector('[data-count="' + k + '"]');
      if (el) el.textContent = v;
    });
    if (saveButton) {
      saveButton.textContent = changed ? fmt(form.dataset.msgSaveN, { n: changed }) : form.dataset.msgSave;
      saveButton.classList.toggle('btn-primary', changed > 0);
      saveButton.classList.toggle('btn-outline-primary', changed === 0);
    }
    const markAllButton = document.getElementById('mark-all');
    if (markAllButton) markAllButton.disabled = counts.unmarked === 0;
    if (pendingBadge) {
      pendingBadge.textContent = memoryOutbox.length ? memoryOutbox.length + ' ' + form.dataset.msgPending : '';
      pendingBadge.classList.toggle('d-none', !memoryOutbox.length);
    }
    return changed;
  }

  function say(text, kind) {
    if (!banner) return;
    banner.textContent = text;
    banner.className = 'alert alert-' + (kind || 'info') + (text ? '' : ' d-none');
  }

  function applyServerRows(serverRows) {
    serverRows.forEach((r) => {
      const row = byId.get(String(r.enrolment_id));
      if (!row) return;
      row.dataset.savedStatus = r.status || '';
      row.dataset.savedNote = r.note || '';
      const pendingHere = memoryOutbox.some((m) => String(m.enrolment_id) === String(r.enrolment_id));
      if (!pendingHere && !row.classList.contains('is-changed')) {
        if (r.status) setStatus(row, r.status);
      }
      if (r.status) {
        // In the run's time zone and on a 24-hour clock, as the server renders it, whatever the device's zone.
        row.querySelector('.roster-marked').textContent =
          [labelOf(r.status), fmt(form.dataset.msgBy, { name: r.marked_by || '—' }), timeOf(r.marked_at)]
            .filter(Boolean).join(' · ');
      }
      const self = row.querySelector('.self-checkin');
      if (self) self.classList.toggle('d-none', r.source !== 'checkin');
    });
  }

  const labelOf = (status) => form.dataset['label' + status[0].toUpperCase() + status.slice(1)] || status;
  const sourceOf = (source) => form.dataset['source' + (source || '')[0].toUpperCase() + (source || '').slice(1)] || source || '';
  const timeOf = (iso) => (iso ? new Date(iso).toLocaleTimeString([], {
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: form.dataset.tz || undefined }) : '');

  function showConflicts(conflicts) {
    if (!conflictBox || !conflicts || !conflicts.length) return;
    conflicts.forEach((c) => {
      const row = byId.get(String(c.enrolment_id));
      const name = row ? row.querySelector('.roster-name').textContent : String(c.enrolment_id);
      const item = document.createElement('li');
      item.className = 'conflict-item d-flex flex-wrap align-items-center gap-2 py-1';
      item.dataset.enrolment = c.enrolment_id;
      const text = document.createElement('span');
      text.className = 'flex-grow-1';
      text.textContent = fmt(form.dataset.msgConflict, {
        name, kept: labelOf(c.kept.status), source: sourceOf(c.kept.source), kept_time: timeOf(c.kept.recorded_at),
        offered: labelOf(c.offered.status), offered_time: timeOf(c.offered.recorded_at) });
      const keep = document.createElement('button');
      keep.type = 'button'; keep.className = 'btn btn-sm btn-outline-secondary conflict-keep';
      keep.textContent = form.dataset.msgKeep;
      const mine = document.createElement('button');
      mine.type = 'button'; mine.className = 'btn btn-sm btn-danger conflict-use-mine';
      mine.textContent = form.dataset.msgUseMine;
      keep.addEventListener('click', () => { item.remove(); hideConflictsIfEmpty(); });
      mine.addEventListener('click', () => {
        // A new decision, made now: it is the newest fact.
        const outbox = loadOutbox();
        outbox.push({ enrolment_id: Number(c.enrolment_id), status: c.offered.status, note: c.offered.note || '',
                      idempotency_key: newKey(), queued_at: new Date().toISOString(),
                      prev_status: c.kept.status, prev_note: c.kept.note || '' });
        saveOutbox(outbox);
        if (row) { setStatus(row, c.offered.status); row.dataset.savedStatus = c.offered.status; }
        item.remove(); hideConflictsIfEmpty(); refresh(); flush();
      });
      const old = conflictList.querySelector('[data-enrolment="' + c.enrolment_id + '"]');
      if (old) old.remove();
      item.append(text, keep, mine);
      conflictList.append(item);
    });
    conflictBox.classList.remove('d-none');
  }
  function hideConflictsIfEmpty() {
    if (conflictBox && !conflictList.children.length) conflictBox.classList.add('d-none');
  }

  async function refreshCsrf() {
    // A page opened from the offline cache may hold an old token: take the current one.
    try {
      const page = await fetch(window.location.href, { credentials: 'same-origin', cache: 'no-store' });
      const match = (await page.text()).match(/name="csrf_token"[^>]*value="([^"]+)"/);
      if (match) { csrf = match[1]; return true; }
    } catch (e) { /* still offline */ }
    return false;
  }

  async function post(batch) {
    return fetch(form.dataset.saveUrl, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf, Accept: 'application/json' },
      body: JSON.stringify({ records: batch.map(({ enrolment_id, status, note, idempotency_key, queued_at }) =>
        ({ enrolment_id, status, note, idempotency_key, recorded_at: queued_at })) }),
    });
  }

  async function flush() {
    if (sending || !memoryOutbox.length) return;
    sending = true;
    const batch = memoryOutbox.slice();
    say(fmt(form.dataset.msgSending, { n: batch.length }), 'info');
    try {
      let response = await post(batch);
      if (response.status === 400 && await refreshCsrf()) response = await post(batch);
      const sentKeys = new Set(batch.map((m) => m.idempotency_key));
      if (response.ok) {
        const data = await response.json();
        saveOutbox(loadOutbox().filter((m) => !sentKeys.has(m.idempotency_key)));
        (data.conflicts || []).forEach((c) => {
          const row = byId.get(String(c.enrolment_id));
          if (row) row.classList.remove('is-changed');
        });
        applyServerRows(data.rows || []);
        showConflicts(data.conflicts || []);
        say(form.dataset.msgSaved, 'success');
        setTimeout(() => { if (!memoryOutbox.length) say('', 'info'); }, 2500);
      } else if (response.status === 401 || response.status === 403 || response.status === 400 ||
                 response.redirected) {
        // Session or permission problem: keep the marks, they are sent once it is fixed.
        let message = form.dataset.msgLogin;
        try { const data = await response.json(); if (data.error && data.error.code !== 'csrf_failed') message = data.error.message; } catch (e) { /* HTML answer */ }
        say(message, 'danger');
      } else if (response.status === 422 || response.status === 409 || response.status === 404) {
        // The marks can never succeed as they are (e.g. a trainee was removed): drop them, say why.
        let message = '';
        try { message = (await response.json()).error.message; } catch (e) { message = String(response.status); }
        saveOutbox(loadOutbox().filter((m) => !sentKeys.has(m.idempotency_key)));
        say(form.dataset.msgError + ' ' + message, 'danger');
        // Those rows show as unsaved again, so nothing is silently lost.
        batch.forEach((m) => {
          const row = byId.get(String(m.enrolment_id));
          if (row) { row.dataset.savedStatus = m.prev_status || ''; row.dataset.savedNote = m.prev_note || ''; }
        });
      } else {
        say(fmt(form.dataset.msgOffline, { n: memoryOutbox.length }), 'warning');
      }
    } catch (e) {
      // Network down: the marks stay in the outbox.
      say(fmt(form.dataset.msgOffline, { n: memoryOutbox.length }), 'warning');
    } finally {
      sending = false;
      refresh();
    }
  }

  function queueChanges() {
    const outbox = loadOutbox();
    rows.forEach((row) => {
      if (!isChanged(row) || !statusOf(row)) return;
      outbox.push({ enrolment_id: Number(row.dataset.enrolment), status: statusOf(row), note: noteOf(row).trim(),
                    idempotency_key: newKey(), queued_at: new Date().toISOString(),
                    prev_status: row.dataset.savedStatus || '', prev_note: row.dataset.savedNote || '' });
      // Until the server answers, the queued mark is what this device believes.
      row.dataset.savedStatus = statusOf(row);
      row.dataset.savedNote = noteOf(row).trim();
    });
    saveOutbox(outbox);
  }

  // Marks queued on an earlier visit (e.g. the page was closed while offline).
  memoryOutbox.forEach((m) => {
    const row = byId.get(String(m.enrolment_id));
    if (!row) return;
    setStatus(row, m.status);
    const note = row.querySelector('.note-field input');
    if (note) note.value = m.note || '';
  });

  form.addEventListener('change', refresh);
  form.addEventListener('input', (event) => { if (event.target.matches('.note-field input')) refresh(); });

  const markAll = document.getElementById('mark-all');
  if (markAll) {
    markAll.addEventListener('click', (event) => {
      event.preventDefault();
      rows.forEach((row) => { if (!statusOf(row)) setStatus(row, 'present'); });
      refresh();
      if (saveButton) saveButton.focus({ preventScroll: true });
    });
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    queueChanges();
    refresh();
    flush();
  });

  // P, L, A, E choose a status for the trainee whose row has the focus.
  form.addEventListener('keydown', (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.target.matches('input[type=text]')) return;
    const row = event.target.closest('.roster-row');
    const status = { p: 'present', l: 'late', a: 'absent', e: 'excused' }[event.key.toLowerCase()];
    if (!row || !status) return;
    event.preventDefault();
    setStatus(row, status);
    const input = row.querySelector('input[value="' + status + '"]');
    if (input) input.focus();
    refresh();
  });

  if (finaliseForm) {
    finaliseForm.addEventListener('submit', (event) => {
      queueChanges();
      refresh();
      if (memoryOutbox.length) {
        event.preventDefault();
        say(form.dataset.msgFinalisePending, 'warning');
        flush();
      }
    });
  }

  // The roster opens offline once visited: the worker keeps this page and its assets.
  if ('serviceWorker' in navigator && form.dataset.sw) {
    navigator.serviceWorker.register(form.dataset.sw, { scope: '/meetings/' }).catch(() => { /* not over http(s) */ });
  }

  window.addEventListener('online', flush);
  setInterval(() => { if (navigator.onLine !== false) flush(); }, 20000);
  window.addEventListener('beforeunload', (event) => {
    if (rows.some((row) => row.classList.contains('is-changed'))) {
      event.preventDefault();
      event.returnValue = form.dataset.msgUnsaved;
    }
  });

  refresh();
  if (memoryOutbox.length) flush();
}());
