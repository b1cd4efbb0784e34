// Host pages: "new meeting" classifies the draft live as the host types and
// shows the suggestion with its reasons; the meeting page re-sends and
// revokes guests' invitations.
import { boot, api, t, showError } from './common.js';

const rank = { open: 1, internal: 2, protected: 3 };

function parseAttendees(text) {
  return text.split(/[\n,;]+/).map((s) => s.trim()).filter(Boolean).map((s) => {
    const m = s.match(/^(.*)<([^>]+)>$/);
    return m ? { name: m[1].trim().replace(/^"|"$/g, ''), email: m[2].trim() } : { email: s };
  });
}

function eventFrom(form) {
  const fd = new FormData(form);
  const ev = {
    subject: fd.get('subject') || '',
    body: fd.get('body') || '',
    location: fd.get('location') || '',
    organizer: { email: boot.state.organizer },
    attendees: parseAttendees(fd.get('attendees') || ''),
    provider: 'manual',
  };
  for (const k of ['start', 'end']) {
    const v = fd.get(k);
    if (v) ev[k] = new Date(v).toISOString();
  }
  return ev;
}

function newMeetingPage(form) {
  const errorEl = document.querySelector('[data-testid="host-error"]');
  const badge = document.querySelector('[data-testid="suggested-profile"]');
  const explanation = document.querySelector('[data-testid="suggestion-explanation"]');
  const reasons = document.querySelector('[data-testid="suggestion-reasons"]');
  const select = form.querySelector('select[name="profile"]');
  const reasonLabel = document.querySelector('[data-testid="override-reason-label"]');
  let suggestion = null;
  let timer = null;

  // Default times: the next full hour, one hour long.
  const start = new Date(); start.setMinutes(0, 0, 0); start.setHours(start.getHours() + 1);
  const end = new Date(start.getTime() + 3600e3);
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
  form.start.value = local(start);
  form.end.value = local(end);

  function updateOverride() {
    const chosen = select.value;
    const lower = suggestion && chosen && rank[chosen] < rank[suggestion.profile];
    reasonLabel.hidden = !lower;
    for (const opt of select.options) {
      opt.disabled = !!(suggestion && opt.value && suggestion.downgrade === 'forbidden' && rank[opt.value] < rank[suggestion.profile]);
    }
  }

  async function classify() {
    try {
      const res = await api('POST', '/api/v1/classify', eventFrom(form));
      suggestion = res;
      badge.textContent = t('classify.profile.' + res.profile);
      badge.className = 'badge ' + res.profile;
      badge.dataset.profile = res.profile;
      explanation.textContent = res.explanation;
      reasons.replaceChildren(...res.reasons.map((r) => {
        const li = document.createElement('li');
        li.dataset.category = r.category;
        li.textContent = `${t('classify.category.' + r.category)} – ${t('host.field_' + r.field)}: “${r.match}”`;
        return li;
      }));
      showError(errorEl, '');
      updateOverride();
    } catch (err) {
      showError(errorEl, err.message);
    }
  }

  form.addEventListener('input', (ev) => {
    if (ev.target === select || ev.target.name === 'override_reason') { updateOverride(); return; }
    clearTimeout(timer);
    timer = setTimeout(classify, 250);
  });
  select.addEventListener('change', updateOverride);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError(errorEl, '');
    const fd = new FormData(form);
    const body = { event: eventFrom(form), event_ref: { provider: 'manual' } };
    if (fd.get('profile')) body.profile = fd.get('profile');
    if (!reasonLabel.hidden) body.override_reason = fd.get('override_reason') || '';
    try {
      const m = await api('POST', '/api/v1/meetings', body);
      window.location.assign('/meetings/' + m.id);
    } catch (err) {
      showError(errorEl, err.message);
    }
  });
  classify();
}

// listRecordings shows the meeting's recordings, each linking to its
// playback page; the section stays hidden when there are none (or when
// recording is not available on this server).
async function listRecordings(meeting) {
  const box = document.querySelector('[data-testid="recordings-section"]');
  if (!box) return;
  let data;
  try { data = await api('GET', `/api/v1/meetings/${meeting}/recordings`); } catch { return; }
  if (!data.recordings || data.recordings.length === 0) return;
  const body = box.querySelector('tbody');
  body.replaceChildren(...data.recordings.map((r) => {
    const tr = document.createElement('tr');
    const cells = [t('host.recording_' + r.kind), new Date(r.created).toLocaleString(boot.lang), `${Math.round(r.bytes / 1024)} kB`,
      t('host.recording_state_' + r.state) + (r.legal_hold ? ' · ' + t('host.legal_hold') : '')];
    for (const c of cells) { const td = document.createElement('td'); td.textContent = c; tr.append(td); }
    const td = document.createElement('td');
    const a = document.createElement('a');
    a.href = r.page; a.textContent = t('host.play'); a.dataset.testid = 'recording-link';
    td.append(a); tr.append(td);
    return tr;
  }));
  box.hidden = false;
}

function meetingPage(section) {
  listRecordings(section.dataset.meeting);
  const errorEl = document.querySelector('[data-testid="host-error"]');
  document.addEventListener('click', async (ev) => {
    const btn = ev.target.closest('button[data-action]');
    if (!btn) return;
    if (btn.dataset.action === 'revoke' && !window.confirm(t('host.confirm_revoke'))) return;
    btn.disabled = true;
    try {
      await api('POST', `/api/v1/meetings/${section.dataset.meeting}/guests/${btn.dataset.guest}/${btn.dataset.action}`, {});
      window.location.reload();
    } catch (err) {
      showError(errorEl, err.message);
      btn.disabled = false;
    }
  });
}

const form = document.getElementById('new-meeting');
if (form) newMeetingPage(form);
const section = document.querySelector('[data-testid="meeting-page"]');
if (section) meetingPage(section);
