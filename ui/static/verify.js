// verify.js: the proof panel of an entry page. It checks, in the browser
// with WebCrypto, that the entry is in its log: the leaf hash of the entry,
// the RFC 6962 inclusion proof to a root, that root and size in the log's
// checkpoint, and the checkpoint's signature by the log's key (from GET
// /logs). Each step is written into #proof-steps, the outcome into
// #proof-status and data-state on #proof.
//
// Everything fetched is data written by strangers: it only ever reaches the
// page through textContent. No libraries, no build step, no eval.
//
// The pure functions are exported to Node (module.exports) for the tests in
// api/testdata/verifyjs; in a browser the script runs the panel and defines
// no globals.
(function () {
  "use strict";

  const enc = new TextEncoder();

  // Failure is a check that did not pass: its message is the reason shown
  // after "failed: ".
  class Failure extends Error {}

  function fail(msg) {
    throw new Failure(msg);
  }

  function subtle() {
    const c = globalThis.crypto;
    if (!c || !c.subtle) {
      fail("WebCrypto is not available (the page must be served over HTTPS or from localhost)");
    }
    return c.subtle;
  }

  // --- bytes -------------------------------------------------------------

  function hex(b) {
    let s = "";
    for (const x of b) s += x.toString(16).padStart(2, "0");
    return s;
  }

  // unhex decodes lower- or upper-case hex; null if s is not hex.
  function unhex(s) {
    if (typeof s !== "string" || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null;
    const b = new Uint8Array(s.length / 2);
    for (let i = 0; i < b.length; i++) b[i] = parseInt(s.substr(2 * i, 2), 16);
    return b;
  }

  // b64 decodes standard, padded base64; null if s is not.
  function b64(s) {
    if (typeof s !== "string" || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
    const bin = atob(s);
    const b = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
    return b;
  }

  function concat(...parts) {
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  // short abbreviates a hex string for a step: its first and last 4 bytes.
  function short(h) {
    return h.length <= 20 ? h : h.slice(0, 8) + "…" + h.slice(-8);
  }

  async function sha256(b) {
    return new Uint8Array(await subtle().digest("SHA-256", b));
  }

  // --- RFC 6962 / RFC 9162 Merkle trees ------------------------------------

  // leafHash is SHA-256(0x00 || body).
  function leafHash(body) {
    return sha256(concat(new Uint8Array([0]), body));
  }

  // nodeHash is SHA-256(0x01 || left || right).
  function nodeHash(left, right) {
    return sha256(concat(new Uint8Array([1]), left, right));
  }

  // rootFromInclusionProof computes the root of the tree of size that the
  // inclusion proof (an array of 32-byte hashes, leaf to root) of the leaf
  // hash at index leads to, as RFC 9162 section 2.1.3.2 verifies it. index
  // and size are Numbers or BigInts. It fails on a proof of the wrong
  // length for index and size.
  async function rootFromInclusionProof(index, size, leaf, proof) {
    let fn = BigInt(index);
    let sn = BigInt(size) - 1n;
    if (fn < 0n || fn > sn) fail("index " + index + " is not in a tree of size " + size);
    let r = leaf;
    for (const p of proof) {
      if (p.length !== 32) fail("a proof hash is not 32 bytes");
      if (sn === 0n) fail("the inclusion proof is too long");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) fail("the inclusion proof is too short");
    return r;
  }

  // --- signed notes and checkpoints ------------------------------------------

  // parseNote splits a signed note (c2sp.org/signed-note): the signed text
  // (ending in a newline) and its signature lines "— <name> <base64>", each
  // base64 being a 4-byte key hint and the signature. It fails on text that
  // is not a note.
  function parseNote(note) {
    if (typeof note !== "string") fail("the checkpoint is not text");
    const i = note.lastIndexOf("\n\n");
    if (i < 0) fail("the checkpoint has no signature lines");
    const text = note.slice(0, i + 1);
    const rest = note.slice(i + 2);
    if (!rest.endsWith("\n")) fail("the checkpoint does not end with a newline");
    const sigs = [];
    for (const line of rest.slice(0, -1).split("\n")) {
      if (!line.startsWith("\u2014 ")) fail("a signature line does not start with an em dash");
      const l = line.slice(2);
      const sp = l.indexOf(" ");
      const raw = sp > 0 ? b64(l.slice(sp + 1)) : null;
      if (raw === null || raw.length < 5) fail("malformed signature line");
      sigs.push({
        name: l.slice(0, sp),
        hint: hex(raw.subarray(0, 4)),
        sig: raw.subarray(4),
      });
    }
    return { text, sigs };
  }

  // parseCheckpoint parses a checkpoint (c2sp.org/tlog-checkpoint) note:
  // origin, size (a BigInt), root (32 bytes), extension lines, the signed
  // message (bytes) and the signatures.
  function parseCheckpoint(note) {
    const { text, sigs } = parseNote(note);
    const lines = text.slice(0, -1).split("\n");
    if (lines.length < 3) fail("the checkpoint has fewer than 3 lines");
    const [origin, sizeLine, rootLine] = lines;
    if (origin === "") fail("the checkpoint has no origin");
    if (!/^(0|[1-9][0-9]*)$/.test(sizeLine) || sizeLine.length > 20) fail("the checkpoint's size is not a decimal");
    const root = b64(rootLine);
    if (root === null || root.length !== 32) fail("the checkpoint's root is not 32 bytes of base64");
    return { origin, size: BigInt(sizeLine), root, extensions: lines.slice(3), message: enc.encode(text), sigs };
  }

  // --- keys ------------------------------------------------------------------

  const spkiP256 = unhex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
  const spkiEd25519 = unhex("302a300506032b6570032100");

  // keyAlg names the algorithm of a DER SubjectPublicKeyInfo: "ECDSA P-256"
  // (an uncompressed point) or "Ed25519"; it fails on any other key.
  function keyAlg(spki) {
    if (spki.length === spkiP256.length + 65 && equal(spki.subarray(0, spkiP256.length), spkiP256) && spki[spkiP256.length] === 4) {
      return "ECDSA P-256";
    }
    if (spki.length === spkiEd25519.length + 32 && equal(spki.subarray(0, spkiEd25519.length), spkiEd25519)) {
      return "Ed25519";
    }
    fail("the log's key is neither ECDSA P-256 nor Ed25519");
  }

  // keyName is the key name of the signature line of a log's checkpoints:
  // Rekor v1 logs sign with their hostname (the origin "<hostname> -
  // <treeID>" before " - "), Rekor v2 logs with their origin.
  function keyName(api, origin) {
    if (api !== "v1") return origin;
    const i = origin.lastIndexOf(" - ");
    if (i <= 0 || !/^[0-9]+$/.test(origin.slice(i + 3))) fail("the origin " + JSON.stringify(origin) + " is not a Rekor v1 origin");
    return origin.slice(0, i);
  }

  // keyID is the 32-byte key ID of a log's checkpoint key (its first 4
  // bytes are the key hint): Rekor v1, and C2SP for ECDSA keys,
  // SHA-256(SubjectPublicKeyInfo DER); C2SP (Rekor v2) Ed25519,
  // SHA-256(name || "\n" || 0x01 || 32-byte key).
  function keyID(api, name, spki) {
    if (api !== "v1" && keyAlg(spki) === "Ed25519") {
      return sha256(concat(enc.encode(name), new Uint8Array([0x0a, 0x01]), spki.subarray(spkiEd25519.length)));
    }
    return sha256(spki);
  }

  // derToRaw converts an ASN.1 DER ECDSA signature, SEQUENCE { INTEGER r,
  // INTEGER s }, to the fixed-size r || s WebCrypto verifies (n bytes
  // each). It fails on anything but strict DER.
  function derToRaw(der, n = 32) {
    let o = 0;
    const byte = () => {
      if (o >= der.length) fail("truncated ECDSA signature");
      return der[o++];
    };
    const len = () => {
      let l = byte();
      if (l === 0x81) {
        l = byte();
        if (l < 0x80) fail("ECDSA signature: non-minimal length");
      } else if (l > 0x80) {
        fail("ECDSA signature: length too long");
      } else if (l === 0x80) {
        fail("ECDSA signature: indefinite length");
      }
      return l;
    };
    const integer = () => {
      if (byte() !== 0x02) fail("ECDSA signature: not an INTEGER");
      const l = len();
      if (l === 0 || o + l > der.length) fail("ECDSA signature: bad INTEGER length");
      let v = der.subarray(o, o + l);
      o += l;
      if (v[0] & 0x80) fail("ECDSA signature: negative INTEGER");
      if (v.length > 1 && v[0] === 0 && !(v[1] & 0x80)) fail("ECDSA signature: non-minimal INTEGER");
      if (v[0] === 0 && v.length > 1) v = v.subarray(1);
      if (v.length > n) fail("ECDSA signature: INTEGER too large");
      const out = new Uint8Array(n);
      out.set(v, n - v.length);
      return out;
    };
    if (byte() !== 0x30) fail("ECDSA signature: not a SEQUENCE");
    const l = len();
    if (o + l !== der.length) fail("ECDSA signature: bad SEQUENCE length");
    const r = integer();
    const s = integer();
    if (o !== der.length) fail("ECDSA signature: trailing bytes");
    return concat(r, s);
  }

  // verifySignature reports whether sig (a note signature without its key
  // hint: ASN.1 DER for ECDSA, 64 bytes for Ed25519) signs msg under the
  // key spki.
  async function verifySignature(spki, msg, sig) {
    const s = subtle();
    if (keyAlg(spki) === "Ed25519") {
      if (sig.length !== 64) return false;
      const key = await s.importKey("spki", spki, { name: "Ed25519" }, false, ["verify"]);
      return s.verify({ name: "Ed25519" }, key, sig, msg);
    }
    let raw;
    try {
      raw = derToRaw(sig);
    } catch (e) {
      if (e instanceof Failure) return false;
      throw e;
    }
    const key = await s.importKey("spki", spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    return s.verify({ name: "ECDSA", hash: "SHA-256" }, key, raw, msg);
  }

  // --- the check -------------------------------------------------------------

  // verifyEntry checks an entry as GET /logs/{treeID}/entries/{index}
  // answers it against the log's description in GET /logs, for the entry
  // page's treeID, index and origin (strings). It calls step(text) for each
  // check passed, and returns {ok: true} or {ok: false, reason}.
  async function verifyEntry({ entry, logs, tree, index, origin }, step = () => {}) {
    try {
      await check(entry, logs, tree, index, origin, step);
      return { ok: true };
    } catch (e) {
      if (e instanceof Failure) return { ok: false, reason: e.message };
      return { ok: false, reason: "error: " + (e && e.message ? e.message : String(e)) };
    }
  }

  async function check(entry, logs, tree, index, origin, step) {
    if (!entry || typeof entry !== "object") fail("no entry");
    if (entry.treeID !== tree || String(entry.index) !== index) {
      fail("the server answered with entry " + entry.index + " of log " + entry.treeID + ", not " + index + " of " + tree);
    }
    const log = ((logs && logs.logs) || []).find((l) => l.treeID === tree);
    if (!log) fail("GET /logs does not list log " + tree);
    const spki = b64(log.publicKey);
    if (spki === null) fail("the log's public key is not base64");
    const alg = keyAlg(spki);
    step("log " + tree + " (Rekor " + log.api + ", " + log.state + "): " + alg + " key from GET /logs");

    // The entry's leaf hash.
    const body = b64(entry.body);
    if (body === null) fail("the entry's body is not base64");
    const leaf = await leafHash(body);
    if (hex(leaf) !== String(entry.leafHash).toLowerCase()) {
      fail("the leaf hash " + short(String(entry.leafHash)) + " is not SHA-256(0x00 ‖ entry) = " + short(hex(leaf)));
    }
    step("leaf hash " + short(hex(leaf)) + " = SHA-256(0x00 ‖ entry of " + body.length + " bytes)");

    // The inclusion proof.
    const ip = entry.inclusionProof || {};
    if (!Number.isSafeInteger(ip.treeSize) || !Array.isArray(ip.hashes)) fail("the inclusion proof is malformed");
    const hashes = ip.hashes.map((h) => unhex(h));
    if (hashes.some((h) => h === null || h.length !== 32)) fail("a proof hash is not 32 bytes of hex");
    const root = await rootFromInclusionProof(entry.index, ip.treeSize, leaf, hashes);
    step(
      "inclusion proof: entry " + entry.index + " of a tree of size " + ip.treeSize + ", " + hashes.length +
        (hashes.length === 1 ? " hash" : " hashes") + " from the leaf lead to root " + short(hex(root))
    );

    // The checkpoint of that root.
    const cp = parseCheckpoint(ip.checkpoint);
    if (cp.origin !== origin) fail("the checkpoint's origin " + JSON.stringify(cp.origin) + " is not the log's, " + JSON.stringify(origin));
    step("checkpoint origin " + JSON.stringify(cp.origin) + " = this log's origin");
    if (cp.size !== BigInt(ip.treeSize)) fail("the checkpoint is of size " + cp.size + ", the proof of size " + ip.treeSize);
    if (!equal(cp.root, root)) fail("the root the proof leads to, " + short(hex(root)) + ", is not the checkpoint's, " + short(hex(cp.root)));
    step("checkpoint size " + cp.size + " and root " + short(hex(cp.root)) + " = the proof's");

    // The log's key: its name and key ID, recomputed.
    if (log.origin !== origin) fail("GET /logs gives log " + tree + " the origin " + JSON.stringify(log.origin));
    const name = keyName(log.api, origin);
    if (log.keyName !== name) fail("GET /logs gives the key name " + JSON.stringify(log.keyName) + ", not " + JSON.stringify(name));
    const id = await keyID(log.api, name, spki);
    const claimed = b64(log.keyID);
    if (claimed === null || !equal(claimed, id)) fail("the key ID in GET /logs is not the log key's");
    const hint = hex(id.subarray(0, 4));
    step("key ID " + short(hex(id)) + " recomputed from the key" + (log.api === "v1" ? " (SHA-256 of its DER)" : "") + ": key hint " + hint);

    // The log's signature.
    const mine = cp.sigs.filter((s) => s.name === name && s.hint === hint);
    if (mine.length === 0) fail("the checkpoint has no signature by " + JSON.stringify(name) + " with key hint " + hint);
    let ok = false;
    for (const s of mine) {
      if (await verifySignature(spki, cp.message, s.sig)) {
        ok = true;
        break;
      }
    }
    if (!ok) fail("the signature of " + JSON.stringify(name) + " (key hint " + hint + ") does not verify with the log's key");
    step("signature of " + JSON.stringify(name) + " (key hint " + hint + ") verifies with the log's " + alg + " key");
    const others = cp.sigs.length - mine.length;
    if (others > 0) step(others + (others === 1 ? " other signature" : " other signatures") + " (witness cosignatures) not checked");
  }

  // --- the page --------------------------------------------------------------

  async function getJSON(fetchFn, url) {
    const resp = await fetchFn(url, {
      headers: { Accept: "application/json" },
      cache: "no-store",
      credentials: "same-origin",
      redirect: "error",
    });
    let v = null;
    try {
      v = await resp.json();
    } catch {
      v = null;
    }
    if (!resp.ok) {
      const msg = v && typeof v.message === "string" ? ": " + v.message : "";
      fail("GET " + url + " answered " + resp.status + msg);
    }
    if (v === null) fail("GET " + url + " did not answer JSON");
    return v;
  }

  // runPanel runs the proof panel of doc, fetching with fetchFn. It does
  // nothing on a page without #proof.
  async function runPanel(doc, fetchFn) {
    const panel = doc.getElementById("proof");
    if (!panel) return;
    const steps = doc.getElementById("proof-steps");
    const status = doc.getElementById("proof-status");
    const say = (text, ok) => {
      if (!steps) return;
      const li = doc.createElement("li");
      li.textContent = text;
      li.setAttribute("data-ok", ok ? "true" : "false");
      steps.appendChild(li);
    };
    const done = (state, text) => {
      panel.setAttribute("data-state", state);
      if (status) status.textContent = text;
    };
    const tree = panel.getAttribute("data-tree") || "";
    const index = panel.getAttribute("data-index") || "";
    const origin = panel.getAttribute("data-origin") || "";
    panel.setAttribute("data-state", "checking");
    if (status) status.textContent = "checking…";
    let result;
    try {
      if (!/^[0-9]{1,20}$/.test(tree) || !/^[0-9]{1,20}$/.test(index)) fail("the page names no log entry");
      const [entry, logs] = await Promise.all([
        getJSON(fetchFn, "/logs/" + tree + "/entries/" + index),
        getJSON(fetchFn, "/logs"),
      ]);
      result = await verifyEntry({ entry, logs, tree, index, origin }, (text) => say(text, true));
    } catch (e) {
      result = { ok: false, reason: e instanceof Failure ? e.message : "error: " + (e && e.message ? e.message : String(e)) };
    }
    if (result.ok) {
      done("verified", "verified");
    } else {
      say(result.reason, false);
      done("failed", "failed: " + result.reason);
    }
  }

  const exported = {
    Failure,
    hex,
    unhex,
    b64,
    leafHash,
    nodeHash,
    rootFromInclusionProof,
    parseNote,
    parseCheckpoint,
    keyAlg,
    keyName,
    keyID,
    derToRaw,
    verifySignature,
    verifyEntry,
    runPanel,
  };
  if (typeof module === "object" && module && module.exports) {
    module.exports = exported;
  }
  if (typeof document !== "undefined" && typeof fetch === "function") {
    const start = () => runPanel(document, (url, init) => fetch(url, init));
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", start);
    } else {
      start();
    }
  }
})();
