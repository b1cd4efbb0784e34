// Outlook task pane: shows the suggested profile and why, lets the host
// accept it or pick another (a reason when lowering; forbidden downgrades
// disabled). The choice is kept in the item's sessionData, where the send
// handler (commands.js) enforces it and provisions.
const boot = JSON.parse(document.getElementById("boot").textContent);
const msgs = boot.messages || {};
const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const t = (key, vars = {}) => (msgs[key] || key).replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, k) => vars[k] ?? "");

const state = { phase: "loading", result: null, choice: null, error: "" };
window.motesvakt = { state: () => JSON.parse(JSON.stringify(state)) };

function core() {
  if (!window.MotesvaktOutlook) throw new Error("commands.js not loaded");
  return window.MotesvaktOutlook;
}

function status(text) {
  $("addin-status").textContent = text;
}

function render() {
  const r = state.result;
  const mo = core();
  $("addin-result").hidden = false;
  $("addin-profile").textContent = t(`classify.profile.${r.profile}`);
  $("addin-profile").dataset.profile = r.profile;
  $("addin-explanation").textContent = r.explanation || "";
  const ul = $("addin-reasons");
  ul.replaceChildren();
  for (const reason of r.reasons || []) {
    const li = document.createElement("li");
    li.textContent = `${t(`classify.category.${reason.category}`)} – ${t(`addin.field.${reason.field}`)}: ”${reason.match}”`;
    ul.append(li);
  }
  if (!(r.reasons || []).length) {
    const li = document.createElement("li");
    li.textContent = t("addin.no_reasons");
    ul.append(li);
  }
  const ext = $("addin-external");
  ext.hidden = !(r.external_domains || []).length;
  ext.textContent = t("addin.external", { Domains: (r.external_domains || []).join(", ") });
  const forbidden = r.downgrade === "forbidden";
  for (const opt of $("addin-select").options) {
    opt.disabled = forbidden && mo.rank[opt.value] < mo.rank[r.profile];
  }
  $("addin-forbidden").hidden = !forbidden || r.profile === "open";
  const chosen = state.choice?.profile || r.profile;
  $("addin-select").value = chosen;
  $("addin-reason").value = state.choice?.reason || "";
  updateReasonBox();
  $("addin-chosen").textContent = t("addin.chosen", { Profile: t(`classify.profile.${chosen}`) });
  status("");
}

function updateReasonBox() {
  const mo = core();
  const lower = mo.rank[$("addin-select").value] < mo.rank[state.result.profile];
  $("addin-reason-box").hidden = !lower;
}

async function choose(profile, reason) {
  const mo = core();
  const d = mo.decide(state.result, { profile, reason });
  if (!d.ok) {
    state.error = d.key;
    status(t(d.key));
    return;
  }
  state.error = "";
  state.choice = { profile: d.profile, reason: d.reason };
  await mo.setChoice(state.choice);
  render();
}

async function start() {
  const mo = core();
  try {
    state.choice = await mo.getChoice();
    state.result = await mo.assess();
    state.phase = "ready";
    render();
  } catch (err) {
    state.phase = "error";
    state.error = err.code || "error";
    status(err.message || t("addin.error.network"));
  }
}

$("addin-select").addEventListener("change", updateReasonBox);
$("addin-accept").addEventListener("click", () => choose(state.result.profile, ""));
$("addin-apply").addEventListener("click", () => choose($("addin-select").value, $("addin-reason").value));

Office.onReady(() => start());
