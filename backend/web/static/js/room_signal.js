// Signaling socket for the meeting room (sfu/PROTOCOL.md, version 1): one
// WebSocket, a join as the first message, a ping every 10 s, and a
// reconnect with exponential backoff when the socket drops without the
// server having ended the session on purpose.

export const PROTOCOL_VERSION = 1;
const PING_EVERY_MS = 10000;
// The server closes a session silent for 40 s; a client that has heard no
// pong for 25 s assumes the path is dead and starts over rather than wait.
const PONG_DEADLINE_MS = 25000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10000;

export class Signal {
  // handlers: {onMessage(msg), onOpen(), onDrop(info) → bool (reconnect?)}
  constructor(path, lang, handlers) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.url = proto + '//' + location.host + path;
    this.lang = lang;
    this.h = handlers;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.timer = null;
    this.pingTimer = null;
    this.lastPong = 0;
    this.pingSeq = 0;
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.lastPong = Date.now();
      this.send({ type: 'join', lang: this.lang });
      this.pingTimer = setInterval(() => this.ping(), PING_EVERY_MS);
      this.h.onOpen?.();
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === 'pong') { this.lastPong = Date.now(); return; }
      this.h.onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      const again = this.h.onDrop({ code: ev.code, reason: ev.reason, attempt: this.attempt });
      if (again && !this.stopped) this.scheduleReconnect();
    };
  }

  ping() {
    if (Date.now() - this.lastPong > PONG_DEADLINE_MS) {
      this.ws?.close();
      return;
    }
    this.send({ type: 'ping', id: String(++this.pingSeq) });
  }

  // A successful join (welcome or lobby_waiting) resets the backoff.
  joined() { this.attempt = 0; }

  scheduleReconnect() {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    this.attempt++;
    // Jitter keeps a room full of clients from reconnecting in lockstep.
    const delay = base / 2 + Math.random() * base / 2;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  send(obj) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...obj }));
    return true;
  }

  // drop closes the socket as a network failure would (test hook).
  drop() { this.ws?.close(); }

  // stop ends the session for good, saying goodbye if still connected.
  stop(sayBye) {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pingTimer);
    if (sayBye) this.send({ type: 'bye' });
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
  }
}
