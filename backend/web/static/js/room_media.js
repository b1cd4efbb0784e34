// Peer connections of one participant (sfu/PROTOCOL.md): "pub" carries our
// own media (we offer, the server answers), "sub" everyone else's (the
// server offers, we answer). Each side has one offerer, so there is no
// glare to resolve here.

// Camera simulcast, listed low to high as the server expects: the SFU sends
// the active speaker's top layer and everyone else's bottom one.
const CAMERA_ENCODINGS = [
  { rid: 'q', scaleResolutionDownBy: 2, maxBitrate: 250000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1200000 },
];

// parseSections maps each m-section's mid to its msid and direction.
export function parseSections(sdp) {
  const out = new Map();
  for (const part of (sdp || '').split(/\r?\nm=/).slice(1)) {
    const sec = { stream: '', track: '', dir: 'sendrecv', kind: part.split(' ', 1)[0] };
    let mid = null;
    for (const line of part.split(/\r?\n/)) {
      if (line.startsWith('a=mid:')) mid = line.slice(6).trim();
      else if (line.startsWith('a=msid:')) {
        const [stream, track] = line.slice(7).trim().split(' ');
        sec.stream = stream;
        sec.track = track || '';
      } else if (/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line.trim())) sec.dir = line.trim().slice(2);
    }
    if (mid !== null) out.set(mid, sec);
  }
  return out;
}

export class Media {
  // send(obj) sends a signaling message; on.change() is called when remote
  // tracks or local media change; on.error(code, detail) reports failures.
  constructor(send, on) {
    this.send = send;
    this.on = on;
    this.pub = null;
    this.sub = null;
    this.senders = new Map(); // source → {sender, msid, transceiver}
    this.local = new Map(); // source → MediaStreamTrack
    this.remote = new Map(); // server track id → {id, participant, kind, receiver, track, mid}
    this.subChain = Promise.resolve();
    this.pubInFlight = null; // {resolve, reject} while an offer awaits its answer
    this.pubPending = false;
    this.simulcast = true;
  }

  // ensureLocal opens microphone and camera as far as allowed and wanted.
  // A missing or refused device is reported, not fatal: the person can
  // still listen and watch.
  async ensureLocal(want) {
    const ask = { audio: want.microphone && !this.live('microphone'), video: want.camera && !this.live('camera') };
    if (!ask.audio && !ask.video) return;
    if (!navigator.mediaDevices?.getUserMedia) {
      this.on.error('media_unavailable');
      return;
    }
    let stream = null;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: ask.audio, video: ask.video && { width: 640, height: 480 } });
    } catch (err) {
      // Try the other device alone before giving up on both.
      for (const only of [{ audio: ask.audio, video: false }, { audio: false, video: ask.video }]) {
        if (!only.audio && !only.video) continue;
        try { stream = await navigator.mediaDevices.getUserMedia(only); break; } catch { /* next */ }
      }
      if (!stream) {
        this.on.error('media_denied', err && err.name);
        return;
      }
    }
    for (const tr of stream.getTracks()) this.local.set(tr.kind === 'audio' ? 'microphone' : 'camera', tr);
    this.on.change();
  }

  live(source) {
    const tr = this.local.get(source);
    return !!tr && tr.readyState === 'live';
  }

  ensurePub() {
    if (this.pub) return this.pub;
    const pc = new RTCPeerConnection({ iceServers: [] });
    pc.onicecandidate = (ev) => this.trickle('pub', ev.candidate);
    pc.onconnectionstatechange = () => this.on.state?.('pub', pc.connectionState);
    this.pub = pc;
    return pc;
  }

  trickle(pc, c) {
    // The server's SDP is complete; our candidates only speed things up.
    // mDNS names (.local) are useless to the server, so they stay here.
    if (!c || !c.candidate || c.candidate.includes('.local')) return;
    this.send({ type: 'candidate', pc, candidate: c.toJSON() });
  }

  // publish sends every allowed local track that is not yet on the pub
  // connection, then renegotiates once.
  async publish(allowed) {
    let changed = false;
    for (const source of ['microphone', 'camera', 'screen']) {
      const tr = this.local.get(source);
      if (!tr || tr.readyState !== 'live' || !allowed.has(source) || this.senders.has(source)) continue;
      const pc = this.ensurePub();
      const init = { direction: 'sendonly', streams: [new MediaStream([tr])] };
      if (source === 'camera' && this.simulcast) init.sendEncodings = CAMERA_ENCODINGS.map((e) => ({ ...e }));
      if (source === 'screen') tr.contentHint = 'detail';
      const transceiver = pc.addTransceiver(tr, init);
      this.senders.set(source, { sender: transceiver.sender, msid: tr.id, transceiver });
      changed = true;
    }
    if (changed) await this.negotiatePub();
  }

  // unpublish takes a source off the pub connection (stopped sharing, or
  // the server no longer allows it) and renegotiates.
  async unpublish(source, stopLocal) {
    const s = this.senders.get(source);
    if (stopLocal) {
      this.local.get(source)?.stop();
      this.local.delete(source);
    }
    if (!s) { this.on.change(); return; }
    this.senders.delete(source);
    try {
      await s.sender.replaceTrack(null);
      s.transceiver.stop();
    } catch { /* connection already gone */ }
    this.on.change();
    if (this.pub && this.pub.signalingState !== 'closed') await this.negotiatePub();
  }

  // setEnabled mutes or unmutes a local track without renegotiation.
  setEnabled(source, on) {
    const tr = this.local.get(source);
    if (tr) tr.enabled = on;
  }

  // cameraOff releases the camera (its light goes out); cameraOn reopens it
  // on the same sender, so no renegotiation is needed.
  async cameraOff() {
    const tr = this.local.get('camera');
    this.local.delete('camera');
    tr?.stop();
    const s = this.senders.get('camera');
    if (s) await s.sender.replaceTrack(null).catch(() => {});
    this.on.change();
  }

  async cameraOn(allowed) {
    await this.ensureLocal({ camera: true });
    const s = this.senders.get('camera');
    const tr = this.local.get('camera');
    if (s && tr) await s.sender.replaceTrack(tr).catch(() => {});
    else await this.publish(allowed);
    this.on.change();
  }

  async negotiatePub() {
    if (!this.pub) return;
    if (this.pubInFlight) { this.pubPending = true; return; }
    const pc = this.pub;
    try {
      const wait = new Promise((resolve, reject) => { this.pubInFlight = { resolve, reject }; });
      await pc.setLocalDescription(await pc.createOffer());
      const tracks = {};
      for (const [source, s] of this.senders) {
        tracks[s.msid] = source;
        if (s.sender.track) tracks[s.sender.track.id] = source;
      }
      this.send({ type: 'offer', pc: 'pub', sdp: pc.localDescription.sdp, tracks });
      await wait;
    } catch (err) {
      if (pc.signalingState === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
      if (err && err.code) this.on.error(err.code);
    } finally {
      this.pubInFlight = null;
    }
    if (this.pubPending && this.pub === pc) {
      this.pubPending = false;
      await this.negotiatePub();
    }
  }

  async onPubAnswer(sdp) {
    const wait = this.pubInFlight;
    if (!this.pub || !wait) return;
    try {
      await this.pub.setRemoteDescription({ type: 'answer', sdp });
      wait.resolve();
    } catch (err) {
      wait.reject(Object.assign(new Error('answer'), { code: 'bad_sdp' }));
    }
  }

  // pubRefused ends an offer the server rejected (bad_sdp, unsupported_codec).
  pubRefused(code) {
    this.pubInFlight?.reject(Object.assign(new Error(code), { code: '' }));
  }

  onSubOffer(sdp) {
    this.subChain = this.subChain.then(async () => {
      if (!this.sub) {
        const pc = new RTCPeerConnection({ iceServers: [] });
        pc.onicecandidate = (ev) => this.trickle('sub', ev.candidate);
        pc.ontrack = () => this.syncRemote();
        pc.onconnectionstatechange = () => this.on.state?.('sub', pc.connectionState);
        this.sub = pc;
      }
      const pc = this.sub;
      await pc.setRemoteDescription({ type: 'offer', sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      if (this.sub !== pc) return;
      this.send({ type: 'answer', pc: 'sub', sdp: pc.localDescription.sdp });
      this.syncRemote();
    }).catch((err) => this.on.error('bad_sdp', err && err.message));
  }

  // syncRemote rebuilds the remote track table from the negotiated SDP: the
  // msid of each receiving m-section names the server's track id and the
  // publisher (stream id = participant id).
  syncRemote() {
    const pc = this.sub;
    const next = new Map();
    if (pc && pc.remoteDescription) {
      const secs = parseSections(pc.remoteDescription.sdp);
      for (const tr of pc.getTransceivers()) {
        const sec = tr.mid !== null && secs.get(tr.mid);
        if (!sec || !sec.track || tr.stopped) continue;
        if (sec.dir !== 'sendonly' && sec.dir !== 'sendrecv') continue;
        next.set(sec.track, { id: sec.track, participant: sec.stream, kind: tr.receiver.track.kind, receiver: tr.receiver, track: tr.receiver.track, mid: tr.mid });
      }
    }
    this.remote = next;
    this.on.change();
  }

  // stats reads inbound-rtp counters per remote track.
  async stats() {
    const out = [];
    for (const r of this.remote.values()) {
      const row = { id: r.id, participant: r.participant, kind: r.kind, bytesReceived: 0, framesDecoded: 0, frameWidth: 0 };
      try {
        const rep = await r.receiver.getStats();
        rep.forEach((s) => {
          if (s.type !== 'inbound-rtp') return;
          row.bytesReceived += s.bytesReceived || 0;
          row.framesDecoded += s.framesDecoded || 0;
          row.frameWidth = Math.max(row.frameWidth, s.frameWidth || 0);
        });
      } catch { /* closed */ }
      out.push(row);
    }
    return out;
  }

  // reset drops both connections after the signaling session ended; the
  // local devices stay open for the next session.
  reset() {
    this.pubInFlight?.reject(Object.assign(new Error('reset'), { code: '' }));
    this.pubInFlight = null;
    this.pubPending = false;
    for (const pc of [this.pub, this.sub]) pc?.close();
    this.pub = null;
    this.sub = null;
    this.senders.clear();
    this.remote.clear();
    this.subChain = Promise.resolve();
    this.on.change();
  }

  close() {
    this.reset();
    for (const tr of this.local.values()) tr.stop();
    this.local.clear();
  }
}
