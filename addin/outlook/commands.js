/* Mötesvakt Outlook add-in: event handlers and the shared client core.
 *
 * One plain script, no import/export: classic Outlook on Windows runs it in
 * a JavaScript-only runtime where modules, Office.onReady and the DOM are
 * unavailable. The backend prepends `var MOTESVAKT_CONFIG = {...}` (API base
 * URL and the sv/en messages). The task pane loads this file too and uses
 * the same core through window.MotesvaktOutlook.
 */
(function (root) {
  "use strict";
  var CFG = root.MOTESVAKT_CONFIG || { api: "", messages: { sv: {}, en: {} } };
  var RANK = { open: 1, internal: 2, protected: 3 };
  var SESSION_KEY = "motesvakt";
  var NOTICE_KEY = "motesvakt";
  var BLOCK_START = "<!-- motesvakt -->";
  var BLOCK_END = "<!-- /motesvakt -->";

  function lang() {
    var l = "";
    try { l = (Office.context && Office.context.displayLanguage) || ""; } catch (e) { l = ""; }
    return /^en/i.test(l) ? "en" : "sv";
  }

  // t renders a message: "{{.Name}}" placeholders, values as given.
  function t(key, vars) {
    var msgs = CFG.messages[lang()] || {};
    var s = msgs[key] || key;
    return s.replace(/\{\{\s*\.(\w+)\s*\}\}/g, function (_, k) { return vars && vars[k] != null ? String(vars[k]) : ""; });
  }

  function profileName(p) { return t("classify.profile." + p); }

  function call(fn) {
    return new Promise(function (resolve, reject) {
      fn(function (r) {
        if (r && r.status === Office.AsyncResultStatus.Failed) { reject(r.error || new Error("office call failed")); return; }
        resolve(r ? r.value : undefined);
      });
    });
  }

  function attendees(list) {
    return (list || []).map(function (a) { return { email: a.emailAddress, name: a.displayName || "" }; });
  }

  // readItem collects the draft as the classifier wants it.
  function readItem() {
    var item = Office.context.mailbox.item;
    var opt = function (f) { return f ? f.catch(function () { return undefined; }) : Promise.resolve(undefined); };
    return Promise.all([
      call(function (cb) { item.subject.getAsync(cb); }),
      call(function (cb) { item.body.getAsync(Office.CoercionType.Text, cb); }),
      opt(item.location && call(function (cb) { item.location.getAsync(cb); })),
      opt(item.organizer && call(function (cb) { item.organizer.getAsync(cb); })),
      call(function (cb) { item.requiredAttendees.getAsync(cb); }),
      opt(item.optionalAttendees && call(function (cb) { item.optionalAttendees.getAsync(cb); })),
      opt(item.start && call(function (cb) { item.start.getAsync(cb); })),
      opt(item.end && call(function (cb) { item.end.getAsync(cb); }))
    ]).then(function (v) {
      var ev = {
        subject: v[0] || "", body: stripBlock(v[1] || ""), location: v[2] || "",
        attendees: attendees(v[4]).concat(attendees(v[5])), provider: "outlook"
      };
      if (v[3] && v[3].emailAddress) { ev.organizer = { email: v[3].emailAddress, name: v[3].displayName || "" }; }
      if (v[6]) { ev.start = new Date(v[6]).toISOString(); }
      if (v[7]) { ev.end = new Date(v[7]).toISOString(); }
      return ev;
    });
  }

  // Our own block must not be classified again (a join URL is not a signal).
  function stripBlock(text) {
    var i = text.indexOf("--- Mötesvakt ---");
    return i < 0 ? text : text.slice(0, i).replace(/\s+$/, "");
  }

  // token gets an Entra access token for our API. OfficeRuntime.auth works
  // in event handlers too (Office.auth is blocked there).
  function token() {
    if (root.OfficeRuntime && OfficeRuntime.auth && OfficeRuntime.auth.getAccessToken) {
      return OfficeRuntime.auth.getAccessToken({ allowSignInPrompt: true, allowConsentPrompt: true, forMSGraphAccess: false });
    }
    return Promise.reject(new Error("no OfficeRuntime.auth"));
  }

  function ApiError(status, code, message) { this.status = status; this.code = code; this.message = message; }

  function api(path, body) {
    return token().catch(function () { throw new ApiError(0, "auth", t("addin.error.auth")); }).then(function (tok) {
      return fetch(CFG.api + path, {
        method: "POST",
        headers: { "Authorization": "Bearer " + tok, "Content-Type": "application/json", "Accept-Language": lang() },
        body: JSON.stringify(body)
      }).catch(function () { throw new ApiError(0, "network", t("addin.error.network")); });
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) {
          var e = data.error || {};
          throw new ApiError(res.status, e.code || "http_" + res.status, e.message || t("addin.error.network"));
        }
        return data;
      });
    });
  }

  function classify(ev) { return api("/api/v1/classify", ev); }

  function getChoice() {
    var item = Office.context.mailbox.item;
    if (!item.sessionData) { return Promise.resolve(root.__motesvaktChoice || null); }
    return call(function (cb) { item.sessionData.getAsync(SESSION_KEY, cb); })
      .then(function (v) { return v ? JSON.parse(v) : null; })
      .catch(function () { return null; });
  }

  function setChoice(choice) {
    var item = Office.context.mailbox.item;
    root.__motesvaktChoice = choice;
    if (!item.sessionData) { return Promise.resolve(); }
    return call(function (cb) { item.sessionData.setAsync(SESSION_KEY, JSON.stringify(choice), cb); });
  }

  // decide applies the rules the backend enforces as well: classification
  // raises, never lowers; a lower choice needs a reason and may be forbidden.
  function decide(result, choice) {
    var suggested = result.profile;
    var profile = (choice && choice.profile) || suggested;
    var reason = (choice && choice.reason) || "";
    if (RANK[profile] < RANK[suggested]) {
      if (result.downgrade === "forbidden") { return { ok: false, profile: suggested, key: "addin.error.downgrade_forbidden" }; }
      if (!reason.trim()) { return { ok: false, profile: suggested, key: "addin.error.reason_required" }; }
      return { ok: true, profile: profile, reason: reason.trim() };
    }
    return { ok: true, profile: profile, reason: "" };
  }

  function notify(result) {
    var item = Office.context.mailbox.item;
    var msg = t("addin.notify", { Profile: profileName(result.profile) }).slice(0, 150);
    return call(function (cb) {
      item.notificationMessages.replaceAsync(NOTICE_KEY, {
        type: Office.MailboxEnums.ItemNotificationMessageType.InformationalMessage,
        message: msg, icon: "Icon.16x16", persistent: false
      }, cb);
    }).catch(function () { /* a notification is a courtesy */ });
  }

  function loadProps() {
    var item = Office.context.mailbox.item;
    return call(function (cb) { item.loadCustomPropertiesAsync(cb); });
  }

  function randomID() {
    var b = new Uint8Array(16);
    (root.crypto || root.msCrypto).getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }

  // eventRef reuses the id stored on the first send, so resending the
  // same meeting updates it (the backend is idempotent per event_ref).
  function eventRef(props) {
    var id = props.get("motesvaktRef");
    if (!id) { id = "olk-" + randomID(); props.set("motesvaktRef", id); }
    return { provider: "outlook", id: id };
  }

  function escapeHTML(s) {
    return String(s).replace(/[&<>"']/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; });
  }

  function joinBlock(m) {
    return BLOCK_START + "<div>--- Mötesvakt ---<br>" +
      escapeHTML(t("addin.writeback.profile", { Profile: profileName(m.profile) })) + "<br>" +
      escapeHTML(t("addin.writeback.join", { URL: "" })) + '<a href="' + escapeHTML(m.join_url) + '">' + escapeHTML(m.join_url) + "</a><br>" +
      escapeHTML(t("addin.writeback.codes")) + "</div>" + BLOCK_END;
  }

  // writeBack puts the join link and profile into the body (replacing an
  // earlier block), the location when empty, and the custom properties the
  // server-side Graph sync reads.
  function writeBack(m, props) {
    var item = Office.context.mailbox.item;
    return call(function (cb) { item.body.getAsync(Office.CoercionType.Html, cb); }).then(function (html) {
      html = html || "";
      var i = html.indexOf(BLOCK_START), j = html.indexOf(BLOCK_END);
      if (i >= 0 && j > i) { html = html.slice(0, i) + html.slice(j + BLOCK_END.length); }
      return call(function (cb) { item.body.setAsync(html + joinBlock(m), { coercionType: Office.CoercionType.Html }, cb); });
    }).then(function () {
      if (!item.location) { return; }
      return call(function (cb) { item.location.getAsync(cb); }).then(function (loc) {
        if (!loc || loc === props.get("motesvaktJoinUrl")) {
          return call(function (cb) { item.location.setAsync(m.join_url, cb); });
        }
      });
    }).then(function () {
      props.set("motesvaktMeeting", m.id);
      props.set("motesvaktProfile", m.profile);
      props.set("motesvaktJoinUrl", m.join_url);
      return call(function (cb) { props.saveAsync(cb); });
    });
  }

  // assess: read, classify, remember, notify. Used on open and on changes.
  function assess() {
    return readItem().then(function (ev) {
      return classify(ev).then(function (result) {
        root.__motesvaktLast = result;
        return notify(result).then(function () { return result; });
      });
    });
  }

  // provision runs on send: classify the final draft, enforce the choice,
  // create or update the room, write back. Resolves to the outcome for
  // event.completed.
  function provision() {
    return readItem().then(function (ev) {
      return classify(ev).then(function (result) {
        return getChoice().then(function (choice) {
          var d = decide(result, choice);
          if (!d.ok) {
            return { allowEvent: false, errorMessage: t("addin.send_check", { Profile: profileName(d.profile) }) + " " + t(d.key) };
          }
          return loadProps().then(function (props) {
            var req = { event: ev, profile: d.profile, event_ref: eventRef(props), lang: lang() };
            if (d.reason) { req.override_reason = d.reason; }
            return api("/api/v1/meetings", req).then(function (m) {
              return writeBack(m, props).then(function () {
                root.__motesvaktMeeting = m;
                return { allowEvent: true, meeting: m };
              });
            });
          });
        });
      });
    });
  }

  function completeSafe(event, opts) {
    try { event.completed(opts); } catch (e) { /* already completed */ }
  }

  function onNewAppointment(event) {
    assess().then(function () { completeSafe(event); }, function () { completeSafe(event); });
  }

  function onAttendeesChanged(event) {
    assess().then(function () { completeSafe(event); }, function () { completeSafe(event); });
  }

  function onAppointmentSend(event) {
    provision().then(function (out) {
      if (out.allowEvent) { completeSafe(event, { allowEvent: true }); return; }
      completeSafe(event, { allowEvent: false, errorMessage: out.errorMessage.slice(0, 500), cancelLabel: t("addin.title"), commandId: "motesvaktTaskPaneButton" });
    }, function (err) {
      var opts = { allowEvent: false, errorMessage: t("addin.send_unavailable") };
      if (err && err.status >= 400 && err.status < 500) {
        // The backend refused (e.g. downgrade forbidden): the host must fix it.
        opts.errorMessage = (err.message || t("addin.error.network")).slice(0, 500);
      } else if (Office.MailboxEnums && Office.MailboxEnums.SendModeOverride) {
        // Backend unreachable: let the host send anyway rather than lock
        // every meeting behind our availability.
        opts.sendModeOverride = Office.MailboxEnums.SendModeOverride.PromptUser;
      }
      completeSafe(event, opts);
    });
  }

  root.MotesvaktOutlook = {
    config: CFG, t: t, lang: lang, profileName: profileName, rank: RANK, readItem: readItem, classify: classify,
    decide: decide, getChoice: getChoice, setChoice: setChoice, notify: notify, assess: assess, provision: provision,
    onNewAppointment: onNewAppointment, onAttendeesChanged: onAttendeesChanged, onAppointmentSend: onAppointmentSend
  };

  if (root.Office && Office.actions && Office.actions.associate) {
    Office.actions.associate("onNewAppointment", onNewAppointment);
    Office.actions.associate("onAttendeesChanged", onAttendeesChanged);
    Office.actions.associate("onAppointmentSend", onAppointmentSend);
  }
})(typeof self !== "undefined" ? self : this);
