// The operator console: plain ES module, no build step. It reads and acts through the
// same API as every client, with the token pasted in (kept in sessionStorage, this tab
// only). The server decides what the token may do; the page hides admin buttons from an
// auditor's token only to spare them a 403.
const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'tally.console.token';

const token = () => sessionStorage.getItem(TOKEN_KEY) || '';

function say(text, error = false) {
  const status = $('status');
  status.textContent = text;
  status.className = error ? 'error' : 'muted';
}

// The role a token names, for the page's own use (never trusted: the API checks it).
function roleOf(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
    return { sub: claims.sub || '?', role: claims.role || '' };
  } catch {
    return { sub: '?', role: '' };
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch { doc = null; }
  if (!res.ok) {
    const why = doc && (doc.detail || doc.title) ? `${doc.code || res.status}: ${doc.detail || doc.title}` : `${res.status}`;
    const err = new Error(`${method} ${path}: ${why}`);
    err.status = res.status;
    throw err;
  }
  return doc;
}

// A table row from cells: strings and numbers as text (never markup), or nodes.
function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement('td');
    if (c instanceof Node) td.append(c);
    else {
      td.textContent = c === null || c === undefined ? '' : String(c);
      if (typeof c === 'number') td.className = 'num';
    }
    tr.append(td);
  }
  return tr;
}

function span(text, cls, title) {
  const s = document.createElement('span');
  s.textContent = text;
  if (cls) s.className = cls;
  if (title) s.title = title;
  return s;
}

// Minor units shown in the currency's own exponent (JPY has none, BHD three).
function money(minor, currency) {
  let digits = 2;
  try {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch { /* an unknown code: two */ }
  return `${(Number(minor) / 10 ** digits).toFixed(digits)} ${currency || ''}`.trim();
}
const when = (ms) => (ms ? new Date(Number(ms)).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');
const short = (hash) => span(hash ? `${hash.slice(0, 12)}…` : '', 'hash', hash);

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

async function loadProjectors() {
  const p = await api('GET', '/v1/projections');
  $('process').textContent = p.process ? `· this process: ${p.process}` : '';
  const j = p.journal || {};
  const behind = (j.head_position ?? 0) - (j.relay_watermark_position ?? 0);
  $('relay').replaceChildren(
    `Journal head ${j.head_position ?? '?'} · relay watermark ${j.relay_watermark_position ?? '?'} `,
    behind > 0 ? span(`(${behind} behind)`, 'bad') : span('(caught up)', 'ok'),
    p.relay_leader ? ` · relay leader ${p.relay_leader.owner} (epoch ${p.relay_leader.epoch})` : ' · no relay leader');
  fill($('projectors').tBodies[0], p.projectors.map((x) => row([
    x.name,
    x.running ? `yes (${(x.owned_here || []).join(', ') || 'no partition'})` : 'no',
    x.lag_events,
    Number(x.lag_seconds).toFixed(1),
    x.applied_position,
    (x.partitions || []).map((q) => `${q.partition}: ${q.position} (${q.owner || 'unowned'})`).join(' · '),
  ])));
  const select = $('rebuild-name');
  const chosen = select.value;
  select.replaceChildren(...p.projectors.map((x) => new Option(x.name, x.name)));
  if (chosen) select.value = chosen;
}

async function loadDeadLetters() {
  const d = await api('GET', '/v1/operator/dead-letters?limit=200');
  const list = d.dead_letters;
  $('dead-count').textContent = list.length ? `(${list.length})` : '';
  $('dead-empty').hidden = list.length > 0;
  fill($('dead-letters').tBodies[0], list.map((x) => {
    const retry = document.createElement('button');
    retry.type = 'button';
    retry.textContent = 'Retry';
    retry.className = 'admin-only';
    retry.dataset.id = x.id;
    retry.addEventListener('click', () => retryDeadLetter(x.id, retry));
    return row([x.id, x.kind, x.order_id || x.affiliate_id || '', money(x.amount_minor, x.currency), x.attempts,
      span(x.last_error, '', x.key), x.operator_retries, retry]);
  }));
}

async function retryDeadLetter(id, button) {
  button.disabled = true;
  try {
    const r = await api('POST', `/v1/operator/dead-letters/${encodeURIComponent(id)}/retry`, { reason: 'retried from the console' });
    say(r.retried === false ? `Dead letter ${id} was no longer parked (${r.status}).` : `Dead letter ${id} sent back to the provider workers.`);
  } catch (e) {
    say(e.message, true);
    button.disabled = false;
    return;
  }
  await refresh();
}

async function loadReconcile() {
  let r;
  try {
    r = await api('GET', '/v1/reconcile/last');
  } catch (e) {
    if (e.status !== 404) throw e;
    $('reconcile').textContent = 'No reconciliation has run yet.';
    $('drift').hidden = true;
    return;
  }
  $('reconcile').replaceChildren(
    r.clean ? span('clean', 'ok') : span(`${r.drifting} drifting`, 'bad'),
    ` · up to position ${r.position} · ${r.events_folded} events folded in ${r.duration_ms} ms · ${when(r.finished_at_unix_ms)} by ${r.owner}`);
  const drift = r.drift || [];
  $('drift').hidden = drift.length === 0;
  fill($('drift').tBodies[0], drift.map((d) => row([d.cache, `${d.key} ${d.field || ''}`.trim(), d.cached, d.log])));
}

async function loadLedger() {
  const l = await api('GET', '/v1/ledger/accounts');
  const totals = Object.entries(l.totals || {});
  fill($('ledger').tBodies[0], totals.length
    ? totals.map(([cur, t]) => row([cur, money(t.debit_minor, cur), money(t.credit_minor, cur),
      t.balanced ? span('balanced', 'ok') : span(`off by ${money(t.debit_minor - t.credit_minor, cur)}`, 'bad')]))
    : [row(['no postings yet', '', '', ''])]);
}

async function loadStream(id) {
  const s = await api('GET', `/v1/streams/${encodeURIComponent(id)}/events?limit=1000`);
  const n = s.events.length;
  $('chain').replaceChildren(
    `${n} event${n === 1 ? '' : 's'} in ${s.stream_id} · chain `,
    n === 0 ? span('empty', 'muted') : s.chain_valid ? span('valid', 'ok') : span('BROKEN', 'bad'));
  fill($('events').tBodies[0], s.events.map((e) => row([e.position, e.stream_version, e.type, e.actor,
    when(e.occurred_at_unix_ms), short(e.hash), short(e.prev_hash)])));
}

async function refresh() {
  if (!token()) return;
  const results = await Promise.allSettled([loadProjectors(), loadDeadLetters(), loadReconcile(), loadLedger()]);
  const failed = results.filter((r) => r.status === 'rejected').map((r) => r.reason.message);
  if (failed.length) say(failed.join(' · '), true);
  else if ($('status').className === 'error') say(`Updated ${when(Date.now())}.`);
}

function useToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
  const who = t ? roleOf(t) : null;
  $('who').textContent = who ? `${who.sub}${who.role ? ` (${who.role})` : ''}` : 'no token';
  document.body.classList.toggle('auditor', !!who && who.role === 'auditor');
  if (t) say('Loading…');
}

function startRebuild() {
  const name = $('rebuild-name').value;
  if (!name) return;
  $('rebuild-echo').textContent = name;
  $('rebuild-typed').value = '';
  $('rebuild-go').disabled = true;
  $('rebuild-confirm').hidden = false;
  $('rebuild-typed').focus();
}

async function confirmRebuild() {
  const name = $('rebuild-echo').textContent;
  if ($('rebuild-typed').value !== name) return;
  $('rebuild-go').disabled = true;
  say(`Rebuilding ${name}…`);
  try {
    const r = await api('POST', `/v1/projections/${encodeURIComponent(name)}/rebuild`, { reason: 'rebuilt from the console' });
    say(`Rebuilt ${r.projector}: ${r.events_replayed} events replayed (recorded at position ${r.recorded_position}).`);
    $('rebuild-confirm').hidden = true;
  } catch (e) {
    say(e.message, true);
    $('rebuild-go').disabled = false;
  }
  await refresh();
}

function init() {
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    $('token').value = '';
    useToken(t);
    refresh().then(() => { if ($('status').className !== 'error') say(`Updated ${when(Date.now())}.`); });
  });
  $('forget').addEventListener('click', () => { useToken(''); say('Token forgotten.'); });
  $('stream-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const id = $('stream-id').value.trim();
    if (id) loadStream(id).catch((e) => say(e.message, true));
  });
  $('rebuild-start').addEventListener('click', startRebuild);
  $('rebuild-typed').addEventListener('input', () => {
    $('rebuild-go').disabled = $('rebuild-typed').value !== $('rebuild-echo').textContent;
  });
  $('rebuild-go').addEventListener('click', confirmRebuild);
  $('rebuild-cancel').addEventListener('click', () => { $('rebuild-confirm').hidden = true; });
  if (token()) {
    useToken(token());
    refresh().then(() => { if ($('status').className !== 'error') say(`Updated ${when(Date.now())}.`); });
  }
  setInterval(refresh, 5000);
}

init();
