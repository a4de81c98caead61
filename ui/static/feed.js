// feed.js: the live feed of a log page's newest entries. The server renders
// the newest entries in a wrapper marked data-feed-tree (the log's tree ID)
// and data-feed-size (the log size the table was rendered at); this script
// polls the log's latest checkpoint and, when the log grew, reads the new
// entries (the newest FEED_MAX at most) from /logs/{tree}/entries/{index}
// and puts them on top of the table. It stops polling while the tab is
// hidden, backs off (bounded) while the server fails, and says what it does
// in the wrapper's role=status element.
//
// Everything fetched is written by strangers: it reaches the page only
// through textContent and attribute values the script builds (links from
// numbers it parsed); nothing fetched is parsed as HTML or run as code.
(function () {
  "use strict";

  const FEED_MAX = 25; // rows added at most per poll, and kept in the table
  const DEFAULT_INTERVAL = 5000; // ms between polls
  const MAX_BACKOFF = 60000; // ms: the longest wait after failures

  // parseSize reads the tree size from a checkpoint note (origin, size,
  // root hash, …); null when it is not one.
  function parseSize(note) {
    if (typeof note !== "string") return null;
    const lines = note.split("\n");
    if (lines.length < 3 || !/^[0-9]{1,16}$/.test(lines[1])) return null;
    const n = Number(lines[1]);
    return Number.isSafeInteger(n) ? n : null;
  }

  // kindOf reads kind and apiVersion from an entry body (base64 of a JSON
  // object); empty strings when they cannot be read.
  function kindOf(b64body) {
    try {
      const bin = atob(b64body);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const doc = JSON.parse(new TextDecoder("utf-8", { fatal: false }).decode(bytes));
      const kind = doc && typeof doc.kind === "string" ? doc.kind : "";
      const version = doc && typeof doc.apiVersion === "string" ? doc.apiVersion : "";
      return { kind, version };
    } catch (e) {
      return { kind: "", version: "" };
    }
  }

  // unixTime formats Unix seconds as the server does (RFC 3339, UTC).
  function unixTime(t) {
    if (typeof t !== "number" || !Number.isFinite(t) || t <= 0) return "";
    const d = new Date(t * 1000);
    if (isNaN(d.getTime())) return "";
    return d.toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  function el(doc, name, text) {
    const e = doc.createElement(name);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function link(doc, href, text) {
    const a = el(doc, "a", text);
    a.setAttribute("href", href);
    return a;
  }

  // row builds the table row of an entry of the log tree, as the server's
  // "entries" template does.
  function row(doc, tree, index, e) {
    const tr = el(doc, "tr");
    tr.className = "feed-new";
    const log = el(doc, "td");
    log.appendChild(link(doc, "/log/" + tree, typeof e.origin === "string" ? e.origin : ""));
    log.appendChild(doc.createTextNode(" "));
    const api = el(doc, "span", typeof e.api === "string" ? e.api : "");
    api.className = "api";
    log.appendChild(api);
    tr.appendChild(log);
    const idx = el(doc, "td");
    idx.appendChild(link(doc, "/log/" + tree + "/entry/" + index, String(index)));
    tr.appendChild(idx);
    tr.appendChild(el(doc, "td", unixTime(e.integratedTime)));
    const k = kindOf(e.body);
    tr.appendChild(el(doc, "td", (k.kind + " " + k.version).trim()));
    const ident = el(doc, "td", "");
    ident.className = "ident";
    tr.appendChild(ident);
    const uuid = el(doc, "td");
    uuid.className = "uuid";
    if (typeof e.uuid === "string" && /^[0-9a-f]{64}([0-9a-f]{16})?$/.test(e.uuid)) {
      uuid.appendChild(link(doc, "/entry/" + e.uuid, e.uuid));
    }
    tr.appendChild(uuid);
    return tr;
  }

  // table returns the wrapper's entries table, making one (and dropping
  // the "No entries." line) when the log was empty.
  function table(doc, wrap) {
    let t = wrap.querySelector("table.entries");
    if (t) return t;
    t = el(doc, "table");
    t.className = "entries";
    const head = el(doc, "tr");
    for (const h of ["Log", "Index", "Integrated", "Kind", "Identity", "UUID"]) head.appendChild(el(doc, "th", h));
    t.appendChild(el(doc, "thead")).appendChild(head);
    t.appendChild(el(doc, "tbody"));
    const none = wrap.querySelector("p.none");
    if (none) none.replaceWith(t);
    else wrap.appendChild(t);
    return t;
  }

  async function getJSON(url) {
    const r = await fetch(url, { cache: "no-store", credentials: "same-origin" });
    if (!r.ok) throw new Error(url + ": HTTP " + r.status);
    return r.json();
  }

  function setUp(doc) {
    const wrap = doc.querySelector("[data-feed-tree]");
    if (!wrap) return;
    const tree = wrap.getAttribute("data-feed-tree");
    let size = Number(wrap.getAttribute("data-feed-size"));
    if (!/^[1-9][0-9]{0,18}$/.test(tree || "") || !Number.isSafeInteger(size) || size < 0) return;
    let interval = Number(wrap.getAttribute("data-feed-interval"));
    if (!Number.isFinite(interval) || interval < 100) interval = DEFAULT_INTERVAL;
    let status = wrap.querySelector("[role=status]");
    if (!status) {
      status = el(doc, "p");
      status.setAttribute("role", "status");
      wrap.prepend(status);
    }
    status.hidden = false;
    const say = (s) => {
      status.textContent = s;
    };

    let timer = null;
    let failures = 0;
    let busy = false;

    function schedule(ms) {
      clearTimeout(timer);
      timer = null;
      if (doc.visibilityState === "hidden") {
        say("live feed paused (tab hidden)");
        return;
      }
      timer = setTimeout(poll, ms);
    }

    async function poll() {
      timer = null;
      if (busy) return;
      busy = true;
      try {
        const r = await fetch("/logs/" + tree + "/latest-checkpoint", { cache: "no-store", credentials: "same-origin" });
        if (!r.ok) throw new Error("checkpoint: HTTP " + r.status);
        const note = await r.text();
        const n = parseSize(note);
        if (n === null) throw new Error("checkpoint: not a checkpoint");
        let added = 0;
        if (n > size) {
          const from = Math.max(size, n - FEED_MAX);
          const idxs = [];
          for (let i = from; i < n; i++) idxs.push(i);
          const entries = await Promise.all(idxs.map((i) => getJSON("/logs/" + tree + "/entries/" + i)));
          const t = table(doc, wrap);
          const body = t.tBodies[0] || t.appendChild(el(doc, "tbody"));
          for (let k = 0; k < idxs.length; k++) {
            const i = idxs[k];
            if (body.querySelector('a[href="/log/' + tree + "/entry/" + i + '"]')) continue;
            body.insertBefore(row(doc, tree, i, entries[k]), body.firstChild);
            added++;
          }
          while (body.rows.length > FEED_MAX) body.deleteRow(body.rows.length - 1);
          size = n;
          wrap.setAttribute("data-feed-size", String(n));
          const sizeEl = doc.getElementById("log-size");
          if (sizeEl) sizeEl.textContent = String(n);
          const cp = doc.getElementById("checkpoint");
          if (cp) cp.textContent = note;
        }
        failures = 0;
        say(added > 0 ? "live: " + added + (added === 1 ? " new entry" : " new entries") + ", log size " + size : "live: log size " + size);
        schedule(interval);
      } catch (e) {
        failures++;
        const wait = Math.min(interval * Math.pow(2, Math.min(failures, 10)), MAX_BACKOFF);
        say("live feed: the server did not answer; retrying in " + Math.round(wait / 1000) + " s");
        schedule(wait);
      } finally {
        busy = false;
      }
    }

    doc.addEventListener("visibilitychange", () => {
      if (doc.visibilityState === "hidden") {
        clearTimeout(timer);
        timer = null;
        say("live feed paused (tab hidden)");
      } else if (timer === null && !busy) {
        poll();
      }
    });
    say("live: log size " + size);
    schedule(interval);
  }

  if (typeof module === "object" && module && module.exports) {
    module.exports = { parseSize, kindOf, unixTime };
  }
  if (typeof document !== "undefined") {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", () => setUp(document));
    } else {
      setUp(document);
    }
  }
})();
