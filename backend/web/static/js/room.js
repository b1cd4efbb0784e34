// Meeting room client: signaling (room_signal.js), media (room_media.js)
// and the page. The server enforces every rule; this page only shows them
// and asks. State lives in one object that window.motesvakt.state()
// exposes as plain JSON for tests and support.
import { boot, t, api } from './common.js';
import { Signal } from './room_signal.js';
import { Media } from './room_media.js';

const cfg = boot.state || {};
const settings = cfg.settings || {};
const indicators = settings.indicators || {};
const meetingID = (cfg.meeting && cfg.meeting.id) || document.getElementById('room')?.dataset.meeting;
const TERMINAL = new Set(['denied', 'removed', 'ended']);
const MAX_ERRORS = 20;
const STATS_EVERY_MS = 500;
// Errors about trickled candidates are expected when a candidate races a
// renegotiation; they change nothing and would only alarm people.
const QUIET_ERRORS = new Set(['candidate']);

const state = {
  phase: 'connecting',
  me: cfg.me ? { id: cfg.me.id, display_name: cfg.me.display_name, role: cfg.me.role, level: cfg.me.level, internal: !!cfg.me.internal, muted: false } : null,
  participants: [],
  lobby: [],
  published: [],
  permissions: { publish: [], chat: false, moderate: false, record: false },
  options: null,
  recording: false,
  recordingCues: 0,
  locked: false,
  speaker: '',
  errors: [],
  chat: [],
  endReason: '',
  reconnects: 0,
  notice: '',
  want: { microphone: true, camera: true },
  sharing: false,
};
let remoteStats = [];

const media = new Media((m) => signal.send(m), {
  change: () => renderMedia(),
  error: (code, detail) => addError({ code, detail }),
});
const signal = new Signal(cfg.signal, boot.lang, {
  onMessage: (m) => { handle(m); render(); },
  onDrop: (info) => dropped(info),
});

// ---- protocol ----

function handle(m) {
  switch (m.type) {
    case 'lobby_waiting':
      signal.joined();
      state.phase = 'lobby';
      if (m.me) state.me = { ...state.me, ...m.me };
      state.options = m.options || state.options;
      break;
    case 'admitted':
      state.notice = t('room.lobby.admitted');
      break;
    case 'welcome':
      signal.joined();
      state.phase = 'in_room';
      state.notice = '';
      state.me = { ...state.me, ...m.me };
      state.options = m.options || null;
      state.permissions = normPerm(m.permissions);
      state.participants = m.participants || [];
      state.published = m.published || [];
      state.speaker = m.speaker || '';
      if (m.recording) recordingCue(true); // joining a meeting that is being recorded
      state.recording = !!m.recording;
      state.locked = !!m.locked;
      startPublishing();
      break;
    case 'denied':
      end('denied', 'room.lobby.denied');
      break;
    case 'lobby_update':
      state.lobby = m.lobby || [];
      break;
    case 'participant_joined':
      if (m.participant) upsertParticipant(m.participant);
      break;
    case 'participant_left':
      state.participants = state.participants.filter((p) => p.id !== m.target);
      break;
    case 'track_published':
      if (m.track_info) {
        state.published = state.published.filter((x) => x.id !== m.track_info.id).concat([m.track_info]);
      }
      break;
    case 'track_unpublished': {
      const id = m.track || (m.track_info && m.track_info.id);
      state.published = state.published.filter((x) => x.id !== id);
      break;
    }
    case 'offer':
      if (m.pc === 'sub') media.onSubOffer(m.sdp);
      break;
    case 'answer':
      if (m.pc === 'pub') media.onPubAnswer(m.sdp);
      break;
    case 'speaker_changed':
      state.speaker = m.speaker || '';
      break;
    case 'permissions_changed':
      permissionsChanged(normPerm(m.permissions));
      break;
    case 'moderation':
      moderation(m);
      break;
    case 'room_state':
      if (m.options) state.options = m.options;
      if (typeof m.locked === 'boolean') state.locked = m.locked;
      break;
    case 'recording_state':
      if (!!m.recording !== state.recording) recordingCue(!!m.recording);
      state.recording = !!m.recording;
      break;
    case 'chat':
      if (m.chat) state.chat = state.chat.concat([m.chat]).slice(-200);
      break;
    case 'error':
      serverError(m);
      break;
    case 'bye':
      // A restarting server comes back: the dropped socket reconnects. A
      // closed room does not.
      if (m.reason === 'server_shutdown') state.notice = t('room.reconnecting');
      else end('ended', 'room.ended');
      break;
  }
}

function normPerm(p) {
  return { publish: (p && p.publish) || [], chat: !!(p && p.chat), moderate: !!(p && p.moderate), record: !!(p && p.record) };
}

function upsertParticipant(p) {
  const i = state.participants.findIndex((x) => x.id === p.id);
  if (i >= 0) state.participants[i] = { ...state.participants[i], ...p };
  else state.participants = state.participants.concat([p]).sort((a, b) => (a.id < b.id ? -1 : 1));
  if (state.me && p.id === state.me.id) state.me = { ...state.me, ...p };
}

function moderation(m) {
  const mine = state.me && m.target === state.me.id;
  if (m.participant) upsertParticipant(m.participant);
  switch (m.action) {
    case 'remove':
      if (mine) end('removed', 'room.moderation.removed');
      else state.participants = state.participants.filter((p) => p.id !== m.target);
      break;
    case 'mute':
      if (mine) {
        // The server has stopped forwarding our microphone; say so and
        // switch it off here too so the toggle tells the truth.
        state.me.muted = true;
        state.want.microphone = false;
        media.setEnabled('microphone', false);
        state.notice = t('room.moderation.muted_by_host');
      }
      break;
    case 'unmute':
      if (mine) state.me.muted = false;
      break;
    case 'promote':
      if (mine) state.notice = t('room.moderation.promoted');
      break;
    case 'demote':
      if (mine) state.notice = t('room.moderation.demoted');
      break;
  }
}

function serverError(m) {
  const e = m.error || {};
  if (QUIET_ERRORS.has(e.of)) return;
  addError({ code: e.code, message: e.message, of: e.of, track: m.track });
  switch (e.code) {
    case 'denied':
      end('denied', 'room.lobby.denied');
      break;
    case 'removed':
      end('removed', 'room.moderation.removed');
      break;
    case 'replaced':
      end('ended', 'room.error.replaced');
      break;
    case 'not_found':
      if (e.of === 'join') end('ended', 'room.ended');
      break;
    case 'track_forbidden':
      trackForbidden(e.of, m.track);
      break;
    case 'bad_sdp':
    case 'unsupported_codec':
      if (e.of === 'offer') media.pubRefused(e.code);
      break;
  }
}

// trackForbidden stops sending what the server refused, so the page shows
// the truth and the browser stops encoding for nobody.
function trackForbidden(source, track) {
  let src = source;
  if (!src || src === 'offer') {
    for (const [s, x] of media.senders) if (x.msid === track || (x.sender.track && x.sender.track.id === track)) src = s;
  }
  if (!src) return;
  if (src === 'screen') state.sharing = false;
  media.unpublish(src, src === 'screen');
}

function permissionsChanged(p) {
  const before = new Set(state.permissions.publish);
  state.permissions = p;
  const now = new Set(p.publish);
  for (const src of before) {
    if (!now.has(src)) {
      if (src === 'screen') state.sharing = false;
      media.unpublish(src, src === 'screen');
    }
  }
  if ([...now].some((s) => !before.has(s))) startPublishing();
}

// startPublishing runs one at a time: a welcome and a promotion arriving
// together must not open the camera twice.
let publishChain = Promise.resolve();
function startPublishing() {
  publishChain = publishChain.then(publishAllowed).catch((err) => addError({ code: 'internal', message: String(err) }));
  return publishChain;
}

async function publishAllowed() {
  const allowed = new Set(state.permissions.publish);
  await media.ensureLocal({
    microphone: allowed.has('microphone'),
    camera: allowed.has('camera') && state.want.camera,
  });
  media.setEnabled('microphone', state.want.microphone && !(state.me && state.me.muted));
  if (state.phase === 'in_room') await media.publish(allowed);
  render();
}

function addError(e) {
  state.errors = state.errors.concat([{ ...e, at: new Date().toISOString() }]).slice(-MAX_ERRORS);
  render();
}

function end(phase, key) {
  state.phase = phase;
  state.endReason = key;
  signal.stop(false);
  media.close();
}

// dropped decides after a closed socket whether to come back: a session the
// server ended on purpose stays ended, anything else is a network blip.
function dropped(info) {
  if (TERMINAL.has(state.phase)) return false;
  switch (info.reason) {
    case 'denied': end('denied', 'room.lobby.denied'); render(); return false;
    case 'removed': end('removed', 'room.moderation.removed'); render(); return false;
    case 'replaced': end('ended', 'room.error.replaced'); render(); return false;
  }
  const wasLobby = state.phase === 'lobby';
  state.phase = 'connecting';
  state.reconnects++;
  state.notice = t('room.reconnecting');
  state.participants = [];
  state.published = [];
  media.reset();
  if (wasLobby) state.lobby = [];
  render();
  return true;
}

// ---- actions ----

function send(type, extra) { signal.send({ type, ...extra }); }

async function toggleMic() {
  const on = !(state.want.microphone && !(state.me && state.me.muted));
  state.want.microphone = on;
  if (on && state.me && state.me.muted) send('unmute');
  if (on && !media.live('microphone')) await startPublishing();
  media.setEnabled('microphone', on);
  render();
}

async function toggleCamera() {
  state.want.camera = !state.want.camera;
  if (state.want.camera) await media.cameraOn(new Set(state.permissions.publish));
  else await media.cameraOff();
  render();
}

async function toggleShare() {
  if (state.sharing) return stopShare();
  if (!navigator.mediaDevices?.getDisplayMedia) { addError({ code: 'share_unsupported' }); return; }
  if (settings.window_share_hint) state.notice = t('room.share.window_hint');
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: settings.window_share_hint ? { displaySurface: 'window' } : true, audio: false });
  } catch {
    render();
    return; // the person cancelled the picker
  }
  const tr = stream.getVideoTracks()[0];
  if (!tr) return;
  tr.onended = () => stopShare();
  media.local.set('screen', tr);
  state.sharing = true;
  await media.publish(new Set(state.permissions.publish));
  render();
}

async function stopShare() {
  if (!state.sharing) return;
  state.sharing = false;
  const mine = state.published.find((x) => x.participant === state.me?.id && x.source === 'screen');
  if (mine) send('unpublish', { track: mine.id });
  await media.unpublish('screen', true);
  if (state.notice === t('room.share.window_hint')) state.notice = '';
  render();
}

async function openIncident(button) {
  if (!window.confirm(t('room.incident.confirm'))) return;
  button.disabled = true;
  try {
    await api('POST', `/api/v1/meetings/${meetingID}/incident`, {});
    state.notice = t('room.incident.opened');
  } catch (err) {
    // The incident endpoint may be absent on a server without recordings.
    addError({ code: err.status === 404 ? 'incident_unavailable' : 'incident_failed', message: err.status === 404 ? '' : err.message });
  } finally {
    button.disabled = false;
  }
  render();
}

function leave() {
  signal.stop(true);
  media.close();
  state.phase = 'ended';
  state.endReason = 'room.left';
  render();
}

// ---- rendering ----

// fill replaces el's children, skipping the nulls conditional parts leave.
function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const LEVEL_KEYS = {
  internal_mfa: 'room.badge.mfa',
  internal_sso: 'room.badge.sso',
  external_sso: 'room.badge.external_sso',
  code_verified: 'room.badge.code_verified',
  unverified: 'room.badge.unverified',
};

function identityBadges(p) {
  return h('span', { class: 'badges' },
    h('span', { class: 'badge', 'data-testid': 'origin-badge', 'data-internal': String(!!p.internal), text: t(p.internal ? 'room.badge.internal' : 'room.badge.external') }),
    h('span', { class: 'badge lvl-' + p.level, 'data-testid': 'identity-badge', 'data-level': p.level, text: t(LEVEL_KEYS[p.level] || 'room.badge.unverified') }));
}

function errorText(e) {
  const key = 'room.error.' + e.code;
  const s = t(key);
  return s !== key ? s : (e.message || t('room.error.internal'));
}

function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(boot.lang || 'sv', { dateStyle: 'short', timeStyle: 'short' }).format(d);
}

const root = document.getElementById('room-app');
const statusEl = document.getElementById('room-status');
const bannerEl = document.getElementById('room-banner');
const errorsEl = document.getElementById('room-errors');
const audioEl = document.getElementById('room-audio');
let layout = null; // persistent in-room DOM, built once per session view
let renderedPhase = '';

function render() {
  renderStatus();
  bannerEl.textContent = state.notice || '';
  fill(errorsEl, ...state.errors.slice(-3).map((e) => h('li', { 'data-testid': 'room-error', 'data-code': e.code },
    errorText(e), e.of && e.code === 'track_forbidden' ? h('span', { class: 'badge', text: t('room.source.' + e.of) }) : null)));
  if (state.phase !== renderedPhase) {
    renderedPhase = state.phase;
    layout = null;
    fill(root, phaseView());
  }
  if (state.phase === 'in_room') renderRoom();
}

function phaseView() {
  switch (state.phase) {
    case 'connecting':
      return h('p', { class: 'muted', 'data-testid': 'connecting', text: t(state.reconnects ? 'room.reconnecting' : 'room.connecting') });
    case 'lobby':
      return h('div', { class: 'card lobby-waiting', 'data-testid': 'lobby-waiting' },
        h('h2', { text: t('room.lobby.title') }),
        h('p', { text: t('room.lobby.waiting') }),
        h('button', { class: 'secondary', 'data-testid': 'leave-button', onclick: leave, text: t('room.leave') }));
    case 'in_room':
      return buildLayout();
    default:
      return h('div', { class: 'card room-end', 'data-testid': 'room-' + state.phase },
        h('p', { text: t(state.endReason || 'room.ended') }));
  }
}

function renderStatus() {
  const parts = [];
  const everyone = state.participants.length ? state.participants : (state.me ? [state.me] : []);
  const allVerified = everyone.length > 0 && everyone.every((p) => p.level && p.level !== 'unverified');
  if (state.phase === 'in_room') {
    if (indicators.lock_icon && indicators.lock_icon !== 'none' && allVerified) {
      parts.push(h('span', { class: 'ind ok', 'data-testid': 'verified-indicator', title: t('room.badge.all_verified') }, '🔒 ', t('room.badge.all_verified')));
    }
    if (indicators.weak_identity_warning && !allVerified) {
      parts.push(h('span', { class: 'ind warn', 'data-testid': 'weak-identity-warning' }, '⚠ ', t('room.badge.weak_identities')));
    }
    if (state.locked) parts.push(h('span', { class: 'ind', 'data-testid': 'locked-indicator', text: t('room.locked') }));
  }
  if (state.recording) parts.push(h('span', { class: 'ind rec', 'data-testid': 'recording-indicator', text: t('room.recording.on') }));
  fill(statusEl, ...parts);
}

function buildLayout() {
  layout = {
    controls: h('div', { class: 'room-controls', 'data-testid': 'room-controls' }),
    listenOnly: h('p', { class: 'muted', 'data-testid': 'listen-only', hidden: true, text: t('room.listen_only') }),
    grid: h('div', { class: 'grid', 'data-testid': 'video-grid' }),
    people: h('div', { class: 'panel', 'data-testid': 'participants' }),
    lobby: h('div', { class: 'panel', 'data-testid': 'lobby' }),
    chat: h('div', { class: 'panel', 'data-testid': 'chat' }),
    chatLog: h('ul', { class: 'chat-log', 'data-testid': 'chat-log', 'aria-live': 'polite' }),
    tiles: new Map(),
  };
  const input = h('input', { type: 'text', maxlength: 2000, 'data-testid': 'chat-input', placeholder: t('room.chat.placeholder'), 'aria-label': t('room.chat.placeholder') });
  layout.chatForm = h('form', {
    class: 'chat-form', onsubmit: (ev) => {
      ev.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      send('chat', { text });
      input.value = '';
    },
  }, input, h('button', { type: 'submit', 'data-testid': 'chat-send', text: t('room.chat.send') }));
  return h('div', { class: 'room-layout' },
    h('div', {}, layout.controls, layout.listenOnly, layout.grid),
    h('aside', {}, layout.lobby, layout.people, layout.chat));
}

function renderRoom() {
  if (!layout) return;
  renderControls();
  renderPeople();
  renderLobby();
  renderChat();
  renderMedia();
}

function renderControls() {
  const perm = state.permissions;
  const pub = new Set(perm.publish);
  const micOn = state.want.microphone && !(state.me && state.me.muted) && media.live('microphone');
  const camOn = state.want.camera && media.live('camera');
  const kids = [];
  if (pub.has('microphone')) {
    kids.push(h('button', { 'data-testid': 'mic-toggle', 'aria-pressed': String(micOn), onclick: toggleMic, text: t(micOn ? 'room.mic.off' : 'room.mic.on') }));
  }
  if (pub.has('camera')) {
    kids.push(h('button', { 'data-testid': 'camera-toggle', 'aria-pressed': String(camOn), onclick: toggleCamera, text: t(camOn ? 'room.camera.off' : 'room.camera.on') }));
  }
  if (pub.has('screen') && navigator.mediaDevices?.getDisplayMedia) {
    kids.push(h('button', {
      'data-testid': 'share-toggle', 'aria-pressed': String(state.sharing), onclick: toggleShare,
      title: settings.window_share_hint ? t('room.share.window_hint') : null, text: t(state.sharing ? 'room.share.stop' : 'room.share.start'),
    }));
  }
  if (perm.moderate) {
    kids.push(h('button', { class: 'secondary', 'data-testid': 'lock-toggle', 'aria-pressed': String(state.locked), onclick: () => send(state.locked ? 'unlock' : 'lock'), text: t(state.locked ? 'room.unlock' : 'room.lock') }));
  }
  if (perm.record) {
    kids.push(h('button', { class: 'secondary', 'data-testid': 'record-toggle', 'aria-pressed': String(state.recording), onclick: () => send('record', { on: !state.recording }), text: t(state.recording ? 'room.recording.stop' : 'room.recording.start') }));
  }
  if (perm.moderate) {
    kids.push(h('button', { class: 'danger', 'data-testid': 'incident-button', onclick: (ev) => openIncident(ev.currentTarget), text: t('room.incident.open') }));
  }
  kids.push(h('button', { class: 'secondary', 'data-testid': 'leave-button', onclick: leave, text: t('room.leave') }));
  fill(layout.controls, ...kids);
  layout.listenOnly.hidden = pub.size > 0;
}

function renderPeople() {
  const me = state.me && state.me.id;
  const mod = state.permissions.moderate;
  const items = state.participants.map((p) => {
    const actions = [];
    if (mod && p.id !== me) {
      if (!p.muted) actions.push(h('button', { class: 'secondary', 'data-testid': 'mute-button', onclick: () => send('mute', { target: p.id }), text: t('room.moderation.mute') }));
      if (['participant', 'guest', 'interpreter'].includes(p.role)) {
        actions.push(h('button', { class: 'secondary', 'data-testid': 'promote-button', onclick: () => send('promote', { target: p.id }), text: t('room.moderation.promote') }));
      }
      if (p.role === 'presenter') {
        actions.push(h('button', { class: 'secondary', 'data-testid': 'demote-button', onclick: () => send('demote', { target: p.id }), text: t('room.moderation.demote') }));
      }
      if (p.role !== 'host' || state.me.role === 'host') {
        actions.push(h('button', { class: 'danger', 'data-testid': 'remove-button', onclick: () => send('remove', { target: p.id }), text: t('room.moderation.remove') }));
      }
    }
    return h('li', { 'data-testid': 'participant', 'data-participant': p.id, 'data-level': p.level, 'data-role': p.role },
      h('span', { class: 'pname', text: p.display_name }),
      p.id === me ? h('span', { class: 'muted', text: t('room.you') }) : null, ' ',
      h('span', { class: 'muted', 'data-testid': 'role', text: t('room.role.' + p.role) }), ' ',
      identityBadges(p),
      p.muted ? h('span', { class: 'badge', 'data-testid': 'muted-badge', text: t('room.muted') }) : null,
      p.id === state.speaker ? h('span', { class: 'badge', text: t('room.speaker') }) : null,
      actions.length ? h('div', { class: 'actions' }, actions) : null);
  });
  fill(layout.people,
    h('h2', { text: t('room.participants.title') }),
    h('p', { class: 'muted', text: t('room.participants.count', state.participants.length) }),
    h('ul', { class: 'plist' }, items));
}

function renderLobby() {
  const mod = state.permissions.moderate;
  layout.lobby.hidden = !mod;
  if (!mod) return;
  const me = state.me && state.me.id;
  const anyVerified = state.lobby.some((e) => e.level && e.level !== 'unverified');
  const items = state.lobby.map((e) => {
    const approved = (e.approved_by || []).includes(me);
    const ev = [
      ['room.lobby.level', h('span', { class: 'badge lvl-' + e.level, 'data-testid': 'identity-badge', 'data-level': e.level, text: t(LEVEL_KEYS[e.level] || 'room.badge.unverified') })],
      ['room.lobby.email', e.email || t('room.lobby.no_email')],
      ['room.lobby.origin', t(e.internal ? 'room.badge.internal' : 'room.badge.external')],
      ['room.lobby.invitation', t(e.invited ? 'room.lobby.invited' : 'room.lobby.not_invited')],
    ];
    if (e.code_verified_at) ev.push(['room.lobby.code_verified_at', h('time', { datetime: e.code_verified_at, 'data-testid': 'code-verified-at', text: fmtTime(e.code_verified_at) })]);
    ev.push(['room.lobby.waiting_since', h('time', { datetime: e.waiting_since, text: fmtTime(e.waiting_since) })]);
    return h('li', {
      'data-testid': 'lobby-entry', 'data-participant': e.id, 'data-level': e.level, 'data-email': e.email || '',
      'data-internal': String(!!e.internal), 'data-invited': String(!!e.invited), 'data-code-verified-at': e.code_verified_at || '',
    },
    h('span', { class: 'pname', text: e.display_name }),
    h('dl', { class: 'evidence' }, ev.map(([k, v]) => [h('dt', { text: t(k) }), h('dd', {}, v)])),
    e.needs_approvals > 1 && (e.approved_by || []).length ? h('p', { class: 'muted', text: t('room.lobby.needs_second_host') }) : null,
    h('div', { class: 'actions' },
      h('button', { 'data-testid': 'admit-button', disabled: approved, onclick: () => send('admit', { target: e.id }), text: t('room.lobby.admit') }),
      h('button', { class: 'danger', 'data-testid': 'deny-button', onclick: () => send('deny', { target: e.id }), text: t('room.lobby.deny') })));
  });
  fill(layout.lobby,
    h('h2', { text: t('room.lobby.title') }),
    h('p', { class: 'muted', 'data-testid': 'lobby-count', text: state.lobby.length ? t('room.lobby.count', state.lobby.length) : t('room.lobby.empty') }),
    state.lobby.length ? h('button', { class: 'secondary', 'data-testid': 'admit-all-verified', disabled: !anyVerified, onclick: () => send('admit_all_verified'), text: t('room.lobby.admit_all_verified') }) : null,
    h('ul', { class: 'lobby-list' }, items));
}

function renderChat() {
  if (!state.permissions.chat) {
    fill(layout.chat, h('h2', { text: t('room.chat.title') }), h('p', { class: 'muted', 'data-testid': 'chat-disabled', text: t('room.chat.disabled') }));
    return;
  }
  if (!layout.chat.contains(layout.chatForm)) {
    fill(layout.chat, h('h2', { text: t('room.chat.title') }), layout.chatLog, layout.chatForm);
  }
  if (layout.chatLog.childElementCount !== state.chat.length) {
    fill(layout.chatLog, ...state.chat.map((c) => h('li', { 'data-testid': 'chat-line' },
      h('time', { class: 'muted', datetime: c.at, text: fmtTime(c.at) }), ' ', h('strong', { text: c.name }), ' ', c.text)));
    layout.chatLog.scrollTop = layout.chatLog.scrollHeight;
  }
}

// sourceOf names what a remote track carries, from the server's
// track_published data; until that arrives, video is taken as a camera.
function sourceOf(r) {
  const info = state.published.find((x) => x.id === r.id);
  if (info) return info.source;
  return r.kind === 'audio' ? 'microphone' : 'camera';
}

function setStream(el, track) {
  const cur = el.srcObject && el.srcObject.getTracks()[0];
  if (cur === track) return;
  el.srcObject = track ? new MediaStream([track]) : null;
  el.dataset.track = '';
  if (track) el.play?.().catch(() => {});
}

// renderMedia keeps one tile per participant and one per screen share,
// reusing the <video> elements so playback never restarts on a re-render.
function renderMedia() {
  if (!layout || state.phase !== 'in_room') return;
  const me = state.me && state.me.id;
  const people = state.participants.length ? state.participants : [state.me];
  const want = new Map(); // tile key → {participant, track, trackId, screen}
  for (const p of people) want.set('p:' + p.id, { participant: p, track: null, trackId: '', screen: false });
  const audios = [];
  for (const r of media.remote.values()) {
    const src = sourceOf(r);
    if (r.kind === 'audio') { audios.push(r); continue; }
    const who = state.participants.find((p) => p.id === r.participant) || { id: r.participant, display_name: '', level: 'unverified' };
    if (src === 'screen') want.set('s:' + r.id, { participant: who, track: r.track, trackId: r.id, screen: true });
    else if (want.has('p:' + r.participant)) Object.assign(want.get('p:' + r.participant), { track: r.track, trackId: r.id });
  }
  if (me && want.has('p:' + me)) Object.assign(want.get('p:' + me), { track: media.local.get('camera') || null, trackId: '', local: true });
  if (me && media.local.get('screen')) want.set('s:local', { participant: state.me, track: media.local.get('screen'), trackId: '', screen: true, local: true });

  for (const [key, tile] of layout.tiles) {
    if (!want.has(key)) { tile.root.remove(); layout.tiles.delete(key); }
  }
  for (const [key, w] of want) {
    let tile = layout.tiles.get(key);
    if (!tile) {
      const video = h('video', { autoplay: true, playsinline: true, muted: true });
      video.muted = true;
      const label = h('div', { class: 'tile-label' });
      tile = { root: h('div', { class: 'tile' + (w.screen ? ' screen' : ''), 'data-testid': w.screen ? 'screen-tile' : 'tile' }, video, label), video, label };
      layout.tiles.set(key, tile);
      if (w.screen) layout.grid.prepend(tile.root); else layout.grid.append(tile.root);
    }
    const p = w.participant || {};
    tile.root.dataset.participant = p.id || '';
    tile.root.classList.toggle('speaking', !w.screen && p.id === state.speaker);
    setStream(tile.video, w.track);
    tile.video.dataset.track = w.trackId;
    fill(tile.label,
      h('span', { class: 'pname', text: p.display_name || '' }),
      w.screen ? h('span', { class: 'badge', text: t('room.source.screen') }) : null,
      w.local && !w.screen ? h('span', { class: 'badge', text: t('room.you') }) : null,
      p.level ? identityBadges(p) : null,
      !w.screen && p.muted ? h('span', { class: 'tile-muted', text: t('room.muted') }) : null);
  }
  // Remote sound: one hidden <audio> per track.
  const keep = new Set(audios.map((r) => r.id));
  for (const el of [...audioEl.children]) if (!keep.has(el.dataset.track)) el.remove();
  for (const r of audios) {
    let el = [...audioEl.children].find((x) => x.dataset.track === r.id);
    if (!el) { el = h('audio', { autoplay: true }); audioEl.append(el); }
    setStream(el, r.track);
    el.dataset.track = r.id;
  }
}

// ---- test and support hook ----

async function refreshStats() {
  if (state.phase !== 'in_room') { remoteStats = []; return; }
  remoteStats = await media.stats();
}
setInterval(() => { refreshStats().catch(() => {}); }, STATS_EVERY_MS);

// recordingCue makes a start or stop of recording heard as well as seen:
// a short rising (start) or falling (stop) two-tone chime and a spoken
// announcement for screen readers. Everyone in the room gets it.
let cueAudio = null;
function recordingCue(on) {
  state.recordingCues += 1;
  const live = document.getElementById('room-announce');
  if (live) live.textContent = t(on ? 'room.recording.announce_on' : 'room.recording.announce_off');
  try {
    cueAudio = cueAudio || new AudioContext();
    const tones = on ? [660, 880] : [880, 660];
    tones.forEach((f, i) => {
      const osc = cueAudio.createOscillator();
      const gain = cueAudio.createGain();
      const at = cueAudio.currentTime + i * 0.22;
      osc.frequency.value = f;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.2);
      osc.connect(gain).connect(cueAudio.destination);
      osc.start(at);
      osc.stop(at + 0.21);
    });
  } catch (e) {
    // No audio output (or autoplay refused): the banner and the
    // announcement still tell.
  }
}

function snapshot() {
  const remoteTracks = remoteStats.map((s) => {
    const el = document.querySelector(`video[data-track="${CSS.escape(s.id)}"]`);
    const r = media.remote.get(s.id);
    return {
      id: s.id, participant: s.participant, kind: s.kind, source: r ? sourceOf(r) : '',
      bytesReceived: s.bytesReceived, framesDecoded: s.framesDecoded, videoWidth: el ? el.videoWidth : 0,
    };
  });
  return JSON.parse(JSON.stringify({
    phase: state.phase, me: state.me, participants: state.participants, lobby: state.lobby, remoteTracks,
    recording: state.recording, locked: state.locked, speaker: state.speaker, errors: state.errors,
    permissions: state.permissions, options: state.options, published: state.published, chat: state.chat,
    reconnects: state.reconnects, sharing: state.sharing, recordingCues: state.recordingCues,
    local: Object.fromEntries([...media.local].map(([k, tr]) => [k, { live: tr.readyState === 'live', enabled: tr.enabled }])),
    publishing: [...media.senders.keys()],
  }));
}

window.motesvakt = {
  state: snapshot,
  // refresh re-reads the media counters now instead of at the next tick.
  refresh: async () => { await refreshStats(); return snapshot(); },
  // dropConnection closes the signaling socket as a network failure would.
  dropConnection: () => signal.drop(),
  // outbound reports what this page sends, for support and tests.
  outbound: async () => {
    const out = [];
    if (!media.pub) return out;
    const rep = await media.pub.getStats();
    const codecs = {};
    rep.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
    rep.forEach((s) => {
      if (s.type === 'outbound-rtp') out.push({ kind: s.kind, rid: s.rid || '', bytesSent: s.bytesSent, framesEncoded: s.framesEncoded || 0, codec: codecs[s.codecId] || '', keyFramesEncoded: s.keyFramesEncoded || 0, pliCount: s.pliCount || 0 });
    });
    return out;
  },
};

window.addEventListener('pagehide', () => signal.stop(true));
render();
signal.connect();
