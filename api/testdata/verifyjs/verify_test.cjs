// Checks ui/static/verify.js and ui/static/search.js with Node against the
// vectors api/verifyjs_test.go writes (argv[2]) and the API server they
// name. Run by TestVerifyJS; exits non-zero on the first failed check.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const assert = require("node:assert/strict");

const staticDir = path.join(__dirname, "..", "..", "..", "ui", "static");
const V = require(path.join(staticDir, "verify.js"));
const S = require(path.join(staticDir, "search.js"));
const vec = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));

const unhex = (s) => Uint8Array.from(Buffer.from(s, "hex"));
const unb64 = (s) => Uint8Array.from(Buffer.from(s, "base64"));
const hex = (b) => Buffer.from(b).toString("hex");

let checks = 0;
function ok(cond, msg) {
  checks++;
  assert.ok(cond, msg);
}

// rejects reports whether f() throws a verify.js Failure (synchronously or
// by rejecting).
async function rejects(f) {
  try {
    await f();
    return false;
  } catch (e) {
    if (!(e instanceof V.Failure)) throw e;
    return true;
  }
}

async function proofs() {
  const leaves = vec.leaves.map(unhex);
  const roots = vec.roots.map(unhex);
  for (const p of vec.proofs) {
    const hs = p.hashes.map(unhex);
    const what = `proof of ${p.index} in ${p.size}`;
    const root = await V.rootFromInclusionProof(p.index, p.size, leaves[p.index], hs);
    ok(hex(root) === hex(roots[p.size]), what + ": wrong root");
    // The proof for another leaf, another size, or with a hash changed,
    // added or dropped, leads elsewhere or is refused.
    const other = leaves[(p.index + 1) % p.size === p.index ? p.size : (p.index + 1) % p.size];
    const bad = [
      () => V.rootFromInclusionProof(p.index, p.size, other, hs),
      () => V.rootFromInclusionProof(p.index, p.size + 1, leaves[p.index], hs),
      () => V.rootFromInclusionProof(p.index, p.size, leaves[p.index], hs.concat([leaves[0]])),
    ];
    if (hs.length > 0) {
      const flipped = hs.map((h) => h.slice());
      flipped[flipped.length - 1][0] ^= 1;
      bad.push(() => V.rootFromInclusionProof(p.index, p.size, leaves[p.index], flipped));
      bad.push(() => V.rootFromInclusionProof(p.index, p.size, leaves[p.index], hs.slice(1)));
    }
    for (const [i, f] of bad.entries()) {
      let r = null;
      try {
        r = await f();
      } catch (e) {
        if (!(e instanceof V.Failure)) throw e;
      }
      const size = i === 1 ? p.size + 1 : p.size;
      ok(r === null || hex(r) !== hex(roots[size]), what + `: bad proof ${i} verified`);
    }
  }
  ok(await rejects(() => V.rootFromInclusionProof(5, 5, leaves[0], [])), "index = size accepted");
  ok(await rejects(() => V.rootFromInclusionProof(0, 0, leaves[0], [])), "size 0 accepted");
  ok(await rejects(() => V.rootFromInclusionProof(0, 2, leaves[0], [new Uint8Array(31)])), "short hash accepted");
  ok(hex(await V.rootFromInclusionProof(0, 1, leaves[0], [])) === hex(leaves[0]), "a tree of one leaf");
  // Beyond 2^53: BigInt arithmetic (index 2^60 of 2^60+1 has one hash).
  const big = 2n ** 60n;
  const r = await V.rootFromInclusionProof(big, big + 1n, leaves[1], [leaves[0]]);
  ok(hex(r) === hex(await V.nodeHash(leaves[0], leaves[1])), "index 2^60");
  console.log(`inclusion proofs: ${vec.proofs.length} vectors`);
}

async function sigs() {
  for (const s of vec.sigs) {
    const der = unhex(s.der);
    ok(hex(V.derToRaw(der)) === s.raw, "DER to raw of " + s.der);
    const spki = unb64(s.spki);
    const msg = unb64(s.msg);
    ok(await V.verifySignature(spki, msg, der), "a Go signature does not verify");
    const other = Uint8Array.from([...msg, 0x0a]);
    ok(!(await V.verifySignature(spki, other, der)), "a signature verifies another message");
  }
  for (const d of vec.badDER) {
    ok(await rejects(() => V.derToRaw(unhex(d))), "bad DER accepted: " + d);
  }
  console.log(`ECDSA signatures: ${vec.sigs.length} DER/raw pairs, ${vec.badDER.length} bad DER`);
}

async function keys() {
  for (const k of vec.keys) {
    const spki = unb64(k.spki);
    ok(V.keyAlg(spki) === k.alg, `${k.name}: algorithm ${V.keyAlg(spki)}, want ${k.alg}`);
    ok(V.keyName(k.api, k.origin) === k.name, `${k.origin}: key name ${V.keyName(k.api, k.origin)}, want ${k.name}`);
    ok(hex(await V.keyID(k.api, k.name, spki)) === k.keyID, `${k.name} (${k.api}, ${k.alg}): key ID`);
  }
  ok(await rejects(() => V.keyName("v1", "no tree ID")), "a v1 origin without a tree ID accepted");
  ok(await rejects(() => V.keyAlg(new Uint8Array(44))), "a key of zeros accepted");
  for (const n of vec.badNotes) {
    ok(await rejects(() => V.parseCheckpoint(n)), "bad note accepted: " + JSON.stringify(n));
  }
  console.log(`keys: ${vec.keys.length} key IDs, ${vec.badNotes.length} bad notes`);
}

async function cases() {
  for (const c of vec.cases) {
    const steps = [];
    const r = await V.verifyEntry(
      { entry: c.entry, logs: c.logs, tree: c.tree, index: c.index, origin: c.origin },
      (s) => steps.push(s)
    );
    const log = `\n  steps: ${JSON.stringify(steps)}\n  result: ${JSON.stringify(r)}`;
    if (c.reason === "") {
      ok(r.ok, `${c.name}: not verified${log}`);
      ok(steps.length >= 7, `${c.name}: ${steps.length} steps${log}`);
    } else {
      ok(!r.ok, `${c.name}: verified${log}`);
      ok(r.reason.includes(c.reason.trim()), `${c.name}: reason ${JSON.stringify(r.reason)}, want ${JSON.stringify(c.reason)}${log}`);
      ok(!r.reason.startsWith("error:"), `${c.name}: an error, not a failed check${log}`);
    }
    if (c.step) ok(steps.some((s) => s.includes(c.step)), `${c.name}: no step with ${JSON.stringify(c.step)}${log}`);
  }
  console.log(`answers: ${vec.cases.length} cases`);
}

// A DOM of the elements the panel touches, from a served test page.
class El {
  constructor(tag) {
    this.tagName = tag;
    this.attrs = {};
    this.children = [];
    this.textContent = "";
  }
  setAttribute(k, v) {
    this.attrs[k] = String(v);
  }
  getAttribute(k) {
    return Object.hasOwn(this.attrs, k) ? this.attrs[k] : null;
  }
  appendChild(c) {
    this.children.push(c);
    return c;
  }
  set innerHTML(_) {
    throw new Error("innerHTML written");
  }
}

function unescapeHTML(s) {
  return s.replace(/&(#(\d+)|#x([0-9a-f]+)|amp|lt|gt|quot|apos);/gi, (m, _, d, x) => {
    if (d) return String.fromCodePoint(parseInt(d, 10));
    if (x) return String.fromCodePoint(parseInt(x, 16));
    return { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'" }[m.toLowerCase()];
  });
}

function pageDOM(html) {
  const m = html.match(/<section id="proof"([^>]*)>/);
  if (!m) throw new Error("no proof section in the page");
  const proof = new El("section");
  for (const a of m[1].matchAll(/\s(data-[a-z]+)="([^"]*)"/g)) proof.setAttribute(a[1], unescapeHTML(a[2]));
  const els = { proof, "proof-steps": new El("ol"), "proof-status": new El("p") };
  els["proof-status"].textContent = "not checked (JavaScript is off)";
  return {
    els,
    getElementById: (id) => els[id] || null,
    createElement: (tag) => new El(tag),
  };
}

async function pages() {
  const served = await (await fetch(vec.base + "/static/verify.js")).text();
  ok(served === fs.readFileSync(path.join(staticDir, "verify.js"), "utf8"), "/static/verify.js is not the file tested");
  let requests = [];
  const shown = [];
  const fetchFn = (url, init) => {
    ok(url.startsWith("/"), "a request off the page's origin: " + url);
    requests.push(url);
    return fetch(vec.base + url, init);
  };
  for (const p of vec.pages) {
    const html = await (await fetch(vec.base + p.path)).text();
    ok(html.includes('<script src="/static/verify.js" defer></script>'), p.path + ": no script tag");
    const doc = pageDOM(html);
    requests = [];
    await V.runPanel(doc, fetchFn);
    const state = doc.els.proof.getAttribute("data-state");
    const status = doc.els["proof-status"].textContent;
    const steps = doc.els["proof-steps"].children.map((li) => li.textContent);
    const log = `\n  status: ${status}\n  steps: ${JSON.stringify(steps)}`;
    ok(state === p.state, `${p.path}: state ${state}, want ${p.state}${log}`);
    ok(status.includes(p.status), `${p.path}: status ${JSON.stringify(status)}, want ${JSON.stringify(p.status)}${log}`);
    ok(p.state !== "verified" || status === "verified", `${p.path}: status ${status}`);
    ok(p.state !== "failed" || status.startsWith("failed: "), `${p.path}: status ${status}`);
    ok(doc.els["proof-steps"].children.every((li) => li.tagName === "li"), "a step is not an li");
    if (shown.length === 0) shown.push(...steps, "status: " + status);
    if (p.state === "verified") {
      ok(steps.length >= 7, `${p.path}: ${steps.length} steps${log}`);
      ok(requests.length === 2 && requests.includes("/logs"), `${p.path}: requests ${requests}`);
    }
  }
  console.log(`pages: ${vec.pages.length} panels; the first:\n  ${shown.join("\n  ")}`);
}

async function search() {
  for (const [i, f] of vec.files.entries()) {
    ok((await S.sha256Hex(unb64(f))) === vec.fileSHA[i], "sha256Hex of file " + i);
  }
  const html = await (await fetch(vec.base + vec.searchURL)).text();
  ok(html.includes('<script src="/static/search.js" defer></script>'), "search page: no script tag");
  const served = await (await fetch(vec.base + "/static/search.js")).text();
  ok(served === fs.readFileSync(path.join(staticDir, "search.js"), "utf8"), "/static/search.js is not the file tested");

  // The form: a file chosen fills q and submits, the file input disabled.
  const listeners = {};
  const on = (who) => (type, f) => {
    listeners[who + ":" + type] = f;
  };
  let submitted = 0;
  const form = { addEventListener: on("form"), requestSubmit: () => submitted++ };
  const content = unb64(vec.files[1]);
  const input = {
    form,
    disabled: false,
    files: [{ name: "a.txt", size: content.length, arrayBuffer: async () => content.buffer }],
    addEventListener: on("input"),
  };
  const q = { form, value: "" };
  const status = { textContent: "" };
  const doc = { getElementById: (id) => ({ "hash-file": input, q, "hash-status": status })[id] || null };
  const saved = globalThis.addEventListener;
  globalThis.addEventListener = on("window");
  try {
    S.setUp(doc);
  } finally {
    globalThis.addEventListener = saved;
  }
  listeners["input:change"]();
  for (let i = 0; i < 500 && submitted === 0; i++) await new Promise((r) => setTimeout(r, 10)); // hashing runs on the thread pool
  ok(submitted === 1, "the form was not submitted: " + status.textContent);
  ok(q.value === "sha256:" + vec.fileSHA[1], "q is " + q.value);
  ok(input.disabled, "the file input is sent with the form");
  listeners["window:pageshow"]();
  ok(!input.disabled, "the file input stays disabled after pageshow");
  // A file dropped on the form.
  let prevented = false;
  const dropped = unb64(vec.files[2]);
  listeners["form:drop"]({
    target: form,
    preventDefault: () => (prevented = true),
    dataTransfer: { files: [{ name: "b.bin", size: dropped.length, arrayBuffer: async () => dropped.buffer }] },
  });
  for (let i = 0; i < 500 && submitted === 1; i++) await new Promise((r) => setTimeout(r, 10));
  ok(prevented && submitted === 2 && q.value === "sha256:" + vec.fileSHA[2], "a dropped file: q is " + q.value);
  console.log("search: file hashing and the form");
}

(async () => {
  await proofs();
  await sigs();
  await keys();
  await cases();
  await pages();
  await search();
  console.log(`ok: ${checks} checks`);
})().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
