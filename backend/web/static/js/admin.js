// Admin pages: rule edits, profile table, versions, test bench. Every change
// names the version it builds on (base_version); a 409 keeps the admin's
// input on the page and offers to apply it to the newest version.
const boot = JSON.parse(document.getElementById('boot').textContent);
const M = boot.messages || {};
const t = (k) => M[k] || k;
const $ = (sel, root = document) => root.querySelector(sel);
const API = '/api/v1/admin';

const statusEl = $('#admin-status');
const rebaseEl = $('#admin-rebase');
let lastRequest = null;

function show(msg, isError) {
  statusEl.textContent = msg;
  statusEl.className = isError ? 'error-msg' : '';
  statusEl.setAttribute('role', isError ? 'alert' : 'status');
}

async function call(method, path, body) {
  const res = await fetch(API + path, {
    method, credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  try { data = await res.json(); } catch { /* empty body */ }
  return { ok: res.ok, status: res.status, data };
}

function problemsText(data) {
  const msg = (data.error && data.error.message) || t('admin.js.error');
  const probs = (data.problems || []).map((p) => p.message);
  return [msg, ...probs].join(' ');
}

function base() {
  const el = $('#base-version');
  return el ? Number(el.value) : boot.state.head;
}

function comment() {
  const el = $('#edit-comment');
  return el ? el.value : '';
}

// edit sends one change based on `b` and reloads onto the new version.
async function edit(method, path, body, b = base()) {
  lastRequest = { method, path, body };
  const r = await call(method, path, { ...body, base_version: b, comment: comment() });
  if (r.ok) {
    show(t('admin.js.saved'));
    const u = new URL(location.href);
    if (u.pathname === '/admin/rules' || u.pathname === '/admin/profiles') {
      u.searchParams.set('version', r.data.version.id);
      location.assign(u.toString());
    } else {
      location.reload();
    }
    return;
  }
  show(problemsText(r.data), true);
  if (r.status === 409 && r.data.head) {
    // Nothing typed is lost: the inputs stay, and one click applies the
    // same change to the newest version.
    lastRequest.head = r.data.head;
    rebaseEl.hidden = false;
  }
}

rebaseEl?.querySelector('button').addEventListener('click', () => {
  if (!lastRequest || !lastRequest.head) return;
  rebaseEl.hidden = true;
  edit(lastRequest.method, lastRequest.path, lastRequest.body, lastRequest.head);
});

function termFrom(row) {
  const f = (name) => row.querySelector(`[data-field="${name}"]`).value;
  const term = { text: f('text'), lang: f('lang'), weight: Number(f('weight')) || 0 };
  if (f('match')) term.match = f('match');
  return term;
}

function cellValue(el) {
  if (el.dataset.kind === 'bool') return el.checked;
  if (el.dataset.kind === 'int') return Number(el.value);
  return el.value;
}
const initialCells = new Map([...document.querySelectorAll('[data-cell]')].map((el) => [el, cellValue(el)]));

const category = () => $('#category')?.dataset.category;

const actions = {
  'term-add': (el) => edit('POST', `/categories/${category()}/terms`, { term: termFrom(el.closest('tr')) }),
  'term-save': (el) => {
    const row = el.closest('tr');
    return edit('PUT', `/categories/${category()}/terms`, { old: { text: row.dataset.oldText, lang: row.dataset.oldLang }, term: termFrom(row) });
  },
  'term-delete': (el) => {
    const row = el.closest('tr');
    if (!confirm(t('admin.js.confirm_delete'))) return;
    return edit('DELETE', `/categories/${category()}/terms`, { old: { text: row.dataset.oldText, lang: row.dataset.oldLang } });
  },
  'category-save': () => edit('PUT', `/categories/${category()}`, { profile: $('#cat-profile').value, downgrade: $('#cat-downgrade').value }),
  'domains-save': (el) => {
    const kind = el.dataset.kind;
    const domains = $(`#domains-${kind}`).value.split(/[\s,;]+/).filter(Boolean);
    return edit('PUT', `/domains/${kind}`, { domains });
  },
  'profiles-save': async () => {
    const byProfile = {};
    for (const el of document.querySelectorAll('[data-cell]')) {
      const v = cellValue(el);
      if (v === initialCells.get(el)) continue;
      (byProfile[el.dataset.profile] ||= {})[el.dataset.cell] = v;
    }
    if (!Object.keys(byProfile).length) { show(t('admin.js.no_changes')); return; }
    // Saving profile by profile chains the versions: each builds on the last.
    let b = base();
    for (const [profile, cells] of Object.entries(byProfile)) {
      lastRequest = { method: 'PUT', path: `/profiles/${profile}`, body: { cells } };
      const r = await call('PUT', `/profiles/${profile}`, { base_version: b, comment: comment(), cells });
      if (!r.ok) {
        show(problemsText(r.data), true);
        if (r.status === 409 && r.data.head) { lastRequest.head = r.data.head; rebaseEl.hidden = false; }
        return;
      }
      b = r.data.version.id;
    }
    show(t('admin.js.saved'));
    const u = new URL(location.href);
    u.searchParams.set('version', b);
    location.assign(u.toString());
  },
  activate: async (el) => {
    if (!confirm(t('admin.js.confirm_activate'))) return;
    const r = await call('POST', `/versions/${el.dataset.version}/activate`, {});
    if (r.ok) { show(t('admin.js.saved')); location.reload(); } else show(problemsText(r.data), true);
  },
  schedule: async (el) => {
    const v = $('#schedule-at').value;
    const at = v ? new Date(v).toISOString() : '';
    const r = await call('POST', `/versions/${el.dataset.version}/schedule`, { effective_at: at });
    if (r.ok) { show(t('admin.js.saved')); location.reload(); } else show(problemsText(r.data), true);
  },
  unschedule: async (el) => {
    const r = await call('DELETE', `/versions/${el.dataset.version}/schedule`);
    if (r.ok) { show(t('admin.js.saved')); location.reload(); } else show(problemsText(r.data), true);
  },
  rollback: async () => {
    if (!confirm(t('admin.js.confirm_rollback'))) return;
    const r = await call('POST', '/rollback', {});
    if (r.ok) { show(t('admin.js.saved')); location.reload(); } else show(problemsText(r.data), true);
  },
  import: () => edit('POST', '/import', { yaml: $('#import-yaml').value }),
  'bench-run': runBench,
};

document.addEventListener('click', (ev) => {
  const el = ev.target.closest('[data-action]');
  if (!el || !actions[el.dataset.action]) return;
  ev.preventDefault();
  actions[el.dataset.action](el);
});

// --- test bench ---

function attendees(text) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    const [email, ...name] = l.split(',');
    return { email: email.trim(), name: name.join(',').trim() };
  });
}

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
}

// renderSide builds the result with DOM nodes (textContent only), so pasted
// text can never become markup.
function renderSide(root, title, side) {
  root.replaceChildren();
  const r = side.result;
  root.append(el('h2', {}, `${title} (v${side.version})`));
  root.append(el('p', {}, el('span', { class: `badge ${r.profile}`, 'data-testid': 'bench-profile' }, t(`classify.profile.${r.profile}`))));
  root.append(el('p', {}, r.explanation));
  let marks = 0;
  for (const f of side.fields) {
    const p = el('p', { 'data-field': f.field });
    p.append(el('strong', {}, t(`admin.js.field.${f.field}`) + ': '));
    for (const s of f.segments) {
      if (s.category) {
        p.append(el('mark', { title: s.category, 'data-category': s.category, 'data-testid': 'bench-mark' }, s.text));
        marks++;
      } else {
        p.append(document.createTextNode(s.text));
      }
    }
    root.append(p);
  }
  if (!marks) root.append(el('p', { class: 'muted' }, t('admin.js.no_findings')));
}

async function runBench() {
  const event = {
    subject: $('#bench-subject').value,
    location: $('#bench-location').value,
    body: $('#bench-body').value,
    organizer: { email: $('#bench-organizer').value },
    attendees: attendees($('#bench-attendees').value),
  };
  const r = await call('POST', '/testbench', { version: Number($('#bench-version').value), event });
  if (!r.ok) { show(problemsText(r.data), true); return; }
  show('');
  const d = r.data;
  $('#bench-result').hidden = false;
  renderSide($('#bench-candidate'), t('admin.bench.candidate'), d.candidate);
  renderSide($('#bench-active'), t('admin.bench.active'), d.active);
  const parts = [d.profile_changed ? t('admin.js.changed_profile') : t('admin.js.same_profile')];
  if (d.gained.length) parts.push(`${t('admin.js.gained')}: ${d.gained.join(', ')}`);
  if (d.lost.length) parts.push(`${t('admin.js.lost')}: ${d.lost.join(', ')}`);
  const sum = $('#bench-summary');
  sum.textContent = parts.join(' · ');
  sum.dataset.changed = String(d.profile_changed);
}

// Preselect ?version= on the bench.
const qv = new URL(location.href).searchParams.get('version');
if (qv && $('#bench-version')) $('#bench-version').value = qv;

window.motesvakt = { ...(window.motesvakt || {}), admin: { state: () => ({ view: boot.state.view, head: boot.state.head, active: boot.state.active }) } };
