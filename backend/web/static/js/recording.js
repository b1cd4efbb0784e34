// Playback page: when the player cannot load the recording (key service
// down, failed recording), ask the API why and show its localized message.
const boot = JSON.parse(document.getElementById("boot").textContent);
const msgs = boot.messages || {};
const player = document.querySelector("[data-testid=recording-player]");
const out = document.querySelector("[data-testid=recording-error]");

async function explain() {
  let text = msgs["recording.playback.failed"] || "";
  try {
    const res = await fetch(player.currentSrc || player.src, { headers: { Range: "bytes=0-0", Accept: "application/json" } });
    if (!res.ok) {
      const body = await res.json();
      if (body && body.error && body.error.message) text = body.error.message;
    } else {
      return; // the file is reachable; the browser could not decode it
    }
  } catch {
    text = msgs["recording.playback.unavailable"] || text;
  }
  out.textContent = text;
  out.hidden = false;
}

if (player && out) player.addEventListener("error", explain);

window.motesvakt = Object.assign(window.motesvakt || {}, {
  recordingError: () => (out && !out.hidden ? out.textContent : ""),
});
