// Outbox dashboard: polls the admin API, draws small SVG charts, lists dead letters with requeue and purge.
// No framework, no external resources; every value goes into the page as text, never as HTML.
(() => {
  'use strict';
  const base = document.body.dataset.base;
  const refreshMs = Math.max(500, Number(document.body.dataset.refresh) || 2000);
  const $ = (id) => document.getElementById(id);
  let deadLetterCursor = null;
  let shownDeadLetters = null;
  let shownInboxDeadLettered = null;
  let shownPending = null;
  let openEndpoints = new Map(); // destination → its open or half-open circuit, for the pending rows' last error
  // With several outboxes in the process, the one shown: chosen in the header, kept in the address (?outbox=name), and
  // named in every API call but the list of outboxes. With one, none is named and the API answers for it.
  let outbox = new URLSearchParams(window.location.search).get('outbox');
  // For an outbox with a database per tenant, the tenant whose rows are listed (?tenant=id): named in every call but the
  // lists of outboxes and tenants. The backlog cards are the outbox's, summed over its tenants.
  let tenant = new URLSearchParams(window.location.search).get('tenant');

  function status(text, isError) {
    const s = $('status');
    s.textContent = text;
    s.className = isError ? 'error' : '';
  }

  // scope: the outbox and tenant to name, when not the ones shown (a selector reading a list before it switches).
  async function api(path, body, scope) {
    const named = scope || { outbox, tenant };
    const init = { credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.method = 'POST';
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const query = [];
    if (named.outbox && path !== 'outboxes') query.push('outbox=' + encodeURIComponent(named.outbox));
    if (named.tenant && path !== 'outboxes' && path !== 'tenants') query.push('tenant=' + encodeURIComponent(named.tenant));
    const url = base + '/api/' + path + (query.length ? (path.includes('?') ? '&' : '?') + query.join('&') : '');
    const response = await fetch(url, init);
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const detail = data && (data.detail || data.title);
      throw new Error((detail || ('HTTP ' + response.status)));
    }
    return data;
  }

  function el(tag, text, className) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (className) e.className = className;
    return e;
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return '–';
    if (seconds < 120) return seconds.toFixed(seconds < 10 ? 1 : 0) + ' s';
    if (seconds < 7200) return (seconds / 60).toFixed(1) + ' min';
    if (seconds < 172800) return (seconds / 3600).toFixed(1) + ' h';
    return (seconds / 86400).toFixed(1) + ' d';
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return '–';
    return seconds < 1 ? (seconds * 1000).toFixed(seconds < 0.01 ? 2 : 0) + ' ms' : seconds.toFixed(2) + ' s';
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : '';
  }

  function keySeq(m) {
    return m.partitionKey ? m.partitionKey + (m.sequenceNumber ? ' #' + m.sequenceNumber : '') : '';
  }

  // ---- Charts ------------------------------------------------------------------------------------------------
  // Each line has its own colour AND dash pattern (CSS classes on the SVG elements), so that lines that coincide,
  // such as published and dispatched in a healthy system, stay distinguishable; the legend draws the same strokes.

  const SVG = 'http://www.w3.org/2000/svg';
  const W = 600, H = 150, LEFT = 52, RIGHT = 592, TOP = 10, BOTTOM = 118;

  function svgEl(tag, attributes, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function clock(date) {
    return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  }

  function legend(id, series) {
    $(id).replaceChildren(...series.map((s) => {
      const item = el('span', null, 'k');
      item.dataset.series = s.className;
      const sample = svgEl('svg', { width: 28, height: 10, viewBox: '0 0 28 10', 'aria-hidden': 'true', class: 'swatch' });
      sample.appendChild(svgEl('line', { x1: 1, y1: 5, x2: 27, y2: 5, class: 'line ' + s.className }));
      item.append(sample, document.createTextNode(s.label));
      return item;
    }));
  }

  // series: [{ className, label, values }]; times: the start of each bucket (Date). Draws the grid, the value axis
  // (0, half, max in the series' unit) and the time axis (clock time of five buckets, the last one "now").
  function draw(svgId, series, times, format) {
    const svg = $(svgId);
    legend(svgId + '-legend', series);
    let max = 0, any = false;
    const length = times.length;
    for (const s of series) {
      for (const v of s.values) {
        if (v === null || v === undefined) continue;
        any = true;
        if (v > max) max = v;
      }
    }
    svg.replaceChildren();
    const top = max > 0 ? max : 1;
    const x = (i) => LEFT + (length > 1 ? (i / (length - 1)) * (RIGHT - LEFT) : 0);
    const y = (v) => BOTTOM - (v / top) * (BOTTOM - TOP);
    for (const fraction of [0, 0.5, 1]) {
      const value = top * fraction;
      svg.appendChild(svgEl('line', { x1: LEFT, x2: RIGHT, y1: y(value), y2: y(value), class: 'grid' }));
      svg.appendChild(svgEl('text', { x: LEFT - 4, y: y(value) + 4, 'text-anchor': 'end', class: 'axis value' }, any ? (value === 0 ? '0' : format(value)) : ''));
    }
    if (length > 1) {
      const ticks = 5;
      for (let t = 0; t < ticks; t++) {
        const i = Math.round((t / (ticks - 1)) * (length - 1));
        const anchor = t === 0 ? 'start' : t === ticks - 1 ? 'end' : 'middle';
        svg.appendChild(svgEl('line', { x1: x(i), x2: x(i), y1: BOTTOM, y2: BOTTOM + 4, class: 'tick' }));
        svg.appendChild(svgEl('text', { x: x(i), y: BOTTOM + 17, 'text-anchor': anchor, class: 'axis time' },
          t === ticks - 1 ? 'now' : clock(times[i])));
      }
      svg.appendChild(svgEl('text', { x: (LEFT + RIGHT) / 2, y: H - 2, 'text-anchor': 'middle', class: 'axis caption' },
        'time (' + Math.round((times[length - 1] - times[0]) / 60000) + ' min window)'));
    }
    if (!any) {
      svg.appendChild(svgEl('text', { x: (LEFT + RIGHT) / 2, y: (TOP + BOTTOM) / 2, 'text-anchor': 'middle', class: 'axis nodata' }, 'no data yet'));
      return;
    }
    for (const s of series) {
      const points = [];
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        points.push(x(i).toFixed(1) + ',' + y(v).toFixed(1));
      });
      if (points.length === 0) continue;
      const line = svgEl('polyline', { points: points.join(' '), class: 'line ' + s.className });
      line.dataset.series = s.className;
      line.appendChild(svgEl('title', {}, s.label));
      svg.appendChild(line);
    }
  }

  function carry(values) {
    // Backlog samples are taken once per bucket; carry the last one over gaps so the line does not drop to zero.
    let last = null;
    return values.map((v) => (v === null || v === undefined ? last : (last = v)));
  }

  async function refreshStats() {
    const stats = await api('stats');
    const b = stats.backlog;
    $('pending-count').textContent = b ? String(b.pending) : '–';
    $('oldest-age').textContent = b ? age(b.oldestAgeSeconds) : '–';
    $('dead-letter-count').textContent = b ? String(b.deadLetters) : '–';
    const err = $('backlog-error');
    err.hidden = !stats.backlogError;
    err.textContent = stats.backlogError || '';

    const series = stats.series;
    const times = series.map((x) => new Date(x.start));
    const perSecond = (n) => n / stats.bucketSeconds;
    const done = series.length > 1 ? series[series.length - 2] : null; // the last complete bucket
    $('throughput').textContent = done ? perSecond(done.dispatched).toFixed(1) : '–';
    $('consumed').textContent = done ? perSecond(done.inboxProcessed).toFixed(1) : '–';
    $('latency').textContent = done ? duration(done.latencyP95 ?? null) : '–';
    $('consumer-latency').textContent = done ? duration(done.consumeP95 ?? null) : '–';
    draw('chart-backlog', [
      { className: 'pending', label: 'pending', values: carry(series.map((x) => x.pending ?? null)) },
      { className: 'dead', label: 'dead letters (outbox)', values: carry(series.map((x) => x.deadLetters ?? null)) },
    ], times, (v) => String(Math.round(v)));
    draw('chart-throughput', [
      { className: 'published', label: 'published', values: series.map((x) => perSecond(x.published)) },
      { className: 'dispatched', label: 'dispatched', values: series.map((x) => perSecond(x.dispatched)) },
      { className: 'consumed', label: 'consumed', values: series.map((x) => perSecond(x.inboxProcessed)) },
      { className: 'failed', label: 'failed', values: series.map((x) => perSecond(x.failed)) },
    ], times, (v) => v.toFixed(v >= 10 ? 0 : 1) + '/s');
    draw('chart-latency', [
      { className: 'p50', label: 'delivery p50', values: series.map((x) => x.latencyP50 ?? null) },
      { className: 'p95', label: 'delivery p95', values: series.map((x) => x.latencyP95 ?? null) },
      { className: 'consume-p95', label: 'consumer p95', values: series.map((x) => x.consumeP95 ?? null) },
    ], times, duration);

    showEndpoints(stats.endpoints || []);
    if (b && (b.deadLetters !== shownDeadLetters || b.pending !== shownPending)) {
      shownPending = b.pending;
      await loadDeadLetters(true);
      await loadPending();
    }
    $('inbox-section').hidden = !stats.inboxAvailable;
    $('inbox-dead-letters-part').hidden = !stats.inboxAvailable;
    // The inbox list is read again when the meter saw inbox dead letters since it was read (or on first sight).
    const inboxDead = series.reduce((n, x) => n + (x.inboxDeadLettered || 0), 0);
    if (stats.inboxAvailable && ($('inbox-dead-letters').dataset.loaded !== '1' || inboxDead !== shownInboxDeadLettered)) {
      shownInboxDeadLettered = inboxDead;
      await loadInbox();
    }
  }

  // Open and half-open circuits with the endpoint failure that opened them; closed ones are only counted.
  function showEndpoints(endpoints) {
    const failing = endpoints.filter((e) => e.state !== 'closed');
    openEndpoints = new Map(failing.map((e) => [e.destination, e]));
    $('endpoints-summary').textContent = failing.length === 0
      ? 'All circuits closed' + (endpoints.length ? ' (' + endpoints.length + ' recovered)' : '')
      : failing.length + ' open';
    $('endpoints-summary').className = failing.length ? 'error' : '';
    const list = $('endpoints');
    list.replaceChildren(...failing.map((e) => {
      const li = el('li', null, e.state);
      li.dataset.destination = e.destination;
      li.append(el('span', e.state === 'halfOpen' ? 'half-open' : 'open', 'state'), el('strong', e.destination));
      li.append(el('span', 'since ' + when(e.since) + ', ' + e.refused + ' refused', 'meta'));
      li.append(el('div', e.causeType ? e.causeType + ': ' + (e.cause ?? '') : 'cause unknown', 'cause'));
      return li;
    }));
  }

  // ---- Dead letters ------------------------------------------------------------------------------------------

  function actionButton(text, action, id, className) {
    const button = el('button', text, className);
    button.type = 'button';
    button.dataset.action = action;
    button.dataset.id = String(id);
    return button;
  }

  async function loadDeadLetters(reset) {
    if (reset) deadLetterCursor = null;
    const query = 'dead-letters?order=desc&pageSize=50' + (deadLetterCursor ? '&after=' + deadLetterCursor : '');
    const page = await api(query);
    const body = $('dead-letters').tBodies[0];
    if (reset) {
      while (body.firstChild) body.removeChild(body.firstChild);
      $('select-all').checked = false;
    }
    for (const m of page.items) {
      const row = document.createElement('tr');
      row.dataset.id = String(m.id);
      const pick = el('input');
      pick.type = 'checkbox';
      pick.className = 'pick';
      pick.value = String(m.id);
      pick.setAttribute('aria-label', 'Select dead letter ' + m.id);
      const cell = el('td');
      cell.appendChild(pick);
      row.appendChild(cell);
      row.appendChild(el('td', m.id, 'num'));
      row.appendChild(el('td', m.messageType));
      row.appendChild(el('td', m.destination));
      row.appendChild(el('td', keySeq(m)));
      row.appendChild(el('td', m.attempts, 'num'));
      row.appendChild(el('td', when(m.deadLetteredAt)));
      row.appendChild(el('td', m.error, 'reason'));
      const actions = el('td');
      actions.appendChild(actionButton('Show', 'show-dead', m.id));
      actions.appendChild(actionButton('Requeue', 'requeue', m.id));
      actions.appendChild(actionButton('Purge', 'purge', m.id, 'danger'));
      row.appendChild(actions);
      body.appendChild(row);
    }
    deadLetterCursor = page.next ?? null;
    $('dead-letters-more').hidden = !deadLetterCursor;
    $('dead-letters-empty').hidden = body.rows.length > 0;
    const count = $('dead-letter-count').textContent;
    shownDeadLetters = count === '–' ? null : Number(count);
  }

  // The row's own last error (the dispatcher writes the cause of an open circuit there, never Polly's bare "the
  // circuit is now open"); a row not tried yet whose destination's circuit is open shows that circuit's cause.
  function lastError(m) {
    if (m.error) return m.error;
    const circuit = openEndpoints.get(m.destination);
    if (!circuit) return '';
    return 'Not sent yet: the circuit of ' + circuit.destination + ' is ' + (circuit.state === 'halfOpen' ? 'half-open' : 'open') +
      (circuit.causeType ? ' after ' + circuit.causeType + ': ' + (circuit.cause ?? '') : '');
  }

  async function loadPending() {
    const page = await api('pending?pageSize=20');
    const body = $('pending').tBodies[0];
    while (body.firstChild) body.removeChild(body.firstChild);
    for (const m of page.items) {
      const row = document.createElement('tr');
      row.dataset.id = String(m.id);
      row.appendChild(el('td', m.id, 'num'));
      row.appendChild(el('td', m.state));
      row.appendChild(el('td', m.messageType));
      row.appendChild(el('td', m.destination));
      row.appendChild(el('td', keySeq(m)));
      row.appendChild(el('td', m.attempts, 'num'));
      row.appendChild(el('td', when(m.createdAt)));
      row.appendChild(el('td', lastError(m), 'reason'));
      const actions = el('td');
      actions.appendChild(actionButton('Show', 'show-pending', m.id));
      row.appendChild(actions);
      body.appendChild(row);
    }
    $('pending-empty').hidden = page.items.length > 0;
  }

  async function loadInbox() {
    const table = $('inbox-dead-letters');
    const page = await api('inbox/dead-letters?order=desc&pageSize=50');
    const body = table.tBodies[0];
    while (body.firstChild) body.removeChild(body.firstChild);
    for (const d of page.items) {
      const row = document.createElement('tr');
      row.dataset.id = String(d.id);
      row.appendChild(el('td', d.id, 'num'));
      row.appendChild(el('td', d.consumer));
      row.appendChild(el('td', d.messageId));
      row.appendChild(el('td', d.messageType));
      row.appendChild(el('td', d.attempts, 'num'));
      row.appendChild(el('td', when(d.deadLetteredAt)));
      row.appendChild(el('td', d.reason, 'reason'));
      const actions = el('td');
      actions.appendChild(actionButton('Show', 'show-inbox', d.id));
      actions.appendChild(actionButton('Purge', 'purge-inbox', d.id, 'danger'));
      row.appendChild(actions);
      body.appendChild(row);
    }
    table.dataset.loaded = '1';
    $('inbox-empty').hidden = page.items.length > 0;
    $('inbox-dead-letter-count').textContent = String(page.items.length) + (page.next ? '+' : '');
  }

  function selectedIds() {
    return Array.from(document.querySelectorAll('#dead-letters input.pick:checked')).map((c) => Number(c.value));
  }

  async function requeue(ids) {
    if (ids.length === 0) return status('Select dead letters first.', true);
    const result = await api('dead-letters/requeue', { ids });
    const missing = result.notFound.length ? ' (' + result.notFound.length + ' already gone)' : '';
    status('Requeued ' + result.requeued.length + ' message(s)' + missing + '.');
    await reload();
  }

  async function purge(path, body, what) {
    if (!window.confirm('Delete ' + what + ' for good?')) return;
    const result = await api(path, body);
    status('Purged ' + result.purged + ' dead letter(s).');
    await reload();
  }

  async function show(path) {
    const message = await api(path);
    $('details-body').textContent = JSON.stringify(message, null, 2);
    $('details').showModal();
  }

  async function reload() {
    await loadDeadLetters(true);
    await loadPending();
    if (!$('inbox-section').hidden) await loadInbox();
    await refreshStats();
  }

  function guarded(fn) {
    return async (event) => {
      const button = event && event.target && event.target.closest ? event.target.closest('button') : null;
      if (button) button.disabled = true;
      try {
        await fn(event);
      } catch (e) {
        status(e.message, true);
      } finally {
        if (button && button.isConnected) button.disabled = false;
      }
    };
  }

  document.addEventListener('click', guarded(async (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const id = Number(button.dataset.id);
    switch (button.dataset.action) {
      case 'requeue': return requeue([id]);
      case 'purge': return purge('dead-letters/purge', { ids: [id] }, 'dead letter ' + id);
      case 'purge-inbox': return purge('inbox/dead-letters/purge', { ids: [id] }, 'inbox dead letter ' + id);
      case 'show-dead': return show('dead-letters/' + id);
      case 'show-pending': return show('pending/' + id);
      case 'show-inbox': return show('inbox/dead-letters/' + id);
    }
  }));
  $('requeue-selected').addEventListener('click', guarded(() => requeue(selectedIds())));
  $('purge-selected').addEventListener('click', guarded(() => {
    const ids = selectedIds();
    return ids.length ? purge('dead-letters/purge', { ids }, ids.length + ' dead letter(s)') : status('Select dead letters first.', true);
  }));
  $('purge-older').addEventListener('click', guarded(() => {
    const days = Number($('purge-days').value);
    if (!(days >= 1)) return status('Enter a number of days (1 or more).', true);
    const before = new Date(Date.now() - days * 86400000).toISOString();
    return purge('dead-letters/purge', { before }, 'every dead letter older than ' + days + ' day(s)');
  }));
  $('dead-letters-more').addEventListener('click', guarded(() => loadDeadLetters(false)));
  $('select-all').addEventListener('change', (event) => {
    for (const c of document.querySelectorAll('#dead-letters input.pick')) c.checked = event.target.checked;
  });

  function showInAddress(name, value) {
    const address = new URL(window.location.href);
    if (value) address.searchParams.set(name, value);
    else address.searchParams.delete(name);
    window.history.replaceState(null, '', address);
  }

  function forgetShownRows() {
    shownDeadLetters = null;
    shownInboxDeadLettered = null;
    shownPending = null;
    openEndpoints = new Map();
  }

  // The tenant selector, shown when the outbox shown keeps a database per tenant: its running tenants (api/tenants),
  // plus one named in the address that is not running here (a host whose dispatcher is disabled: the API finds it by
  // its source). Returns the tenant to show, or null; the caller switches to it and the outbox at once, so that no
  // refresh in between names the new outbox with the old tenant.
  async function chooseTenant(summary, name, wanted) {
    const select = $('tenant');
    if (!summary || summary.tenants === null || summary.tenants === undefined) {
      select.replaceChildren();
      $('tenant-choice').hidden = true;
      return null;
    }
    const tenants = (await api('tenants', undefined, { outbox: name, tenant: null })).tenants.map((t) => t.tenantId);
    if (wanted && !tenants.includes(wanted)) tenants.push(wanted);
    const chosen = wanted || tenants[0] || null;
    select.replaceChildren(...tenants.map((id) => {
      const option = el('option', id);
      option.value = id;
      return option;
    }));
    select.value = chosen || '';
    $('tenant-choice').hidden = false;
    if (!chosen) status('This outbox keeps a database per tenant and runs none yet.', true);
    return chosen;
  }

  async function loadOutboxes() {
    const outboxes = (await api('outboxes')).outboxes;
    $('tenant').addEventListener('change', guarded(async () => {
      tenant = $('tenant').value;
      showInAddress('tenant', tenant);
      forgetShownRows();
      status('');
      await reload();
    }));
    if (outboxes.length < 2) {
      outbox = null;
      tenant = await chooseTenant(outboxes[0], null, tenant);
      return;
    }
    const select = $('outbox');
    for (const o of outboxes) {
      const option = el('option', o.name);
      option.value = o.name;
      select.appendChild(option);
    }
    if (!outboxes.some((o) => o.name === outbox)) outbox = (outboxes.find((o) => o.isDefault) || outboxes[0]).name;
    select.value = outbox;
    $('outbox-choice').hidden = false;
    tenant = await chooseTenant(outboxes.find((o) => o.name === outbox), outbox, tenant);
    select.addEventListener('change', guarded(async () => {
      const next = select.value;
      const nextTenant = await chooseTenant(outboxes.find((o) => o.name === next), next, null);
      outbox = next;
      tenant = nextTenant;
      showInAddress('outbox', outbox);
      showInAddress('tenant', tenant);
      forgetShownRows();
      status('');
      await reload();
    }));
  }

  async function tick() {
    try {
      await refreshStats();
      if (!$('status').classList.contains('error') && $('status').textContent === '') status('Live');
    } catch (e) {
      status('Cannot reach the admin API: ' + e.message, true);
    } finally {
      setTimeout(tick, refreshMs);
    }
  }

  loadOutboxes()
    .catch((e) => status('Cannot list the outboxes: ' + e.message, true))
    .finally(tick);
})();
