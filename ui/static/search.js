// search.js: search by a file's digest. A file chosen in (or dropped on)
// <input type="file" id="hash-file"> of the search form, or dropped on the
// form, is hashed in the browser with WebCrypto SHA-256; the search box
// <input name="q" id="q"> gets "sha256:<hex>" and the form is submitted.
// The file never leaves the browser: the script makes no request of its
// own, and the file input is disabled before the form is submitted so that
// not even its name is sent.
//
// sha256Hex is exported to Node (module.exports) for the tests; in a
// browser the script defines no globals.
(function () {
  "use strict";

  // sha256Hex returns the lower-case hex SHA-256 of bytes (an ArrayBuffer
  // or a typed array).
  async function sha256Hex(bytes) {
    const c = globalThis.crypto;
    if (!c || !c.subtle) {
      throw new Error("WebCrypto is not available (the page must be served over HTTPS or from localhost)");
    }
    const d = new Uint8Array(await c.subtle.digest("SHA-256", bytes));
    let s = "";
    for (const x of d) s += x.toString(16).padStart(2, "0");
    return s;
  }

  // setUp wires the search form of doc; it does nothing on a page without
  // #hash-file and #q.
  function setUp(doc) {
    const input = doc.getElementById("hash-file");
    const q = doc.getElementById("q");
    if (!input || !q) return;
    const form = input.form || q.form;
    if (!form) return;
    const status = doc.getElementById("hash-status");
    const say = (text) => {
      if (status) status.textContent = text;
    };

    let busy = false;
    const hashFile = async (file) => {
      if (!file || busy) return;
      busy = true;
      try {
        say("hashing " + file.name + " (" + file.size + " bytes) in the browser…");
        const digest = await sha256Hex(await file.arrayBuffer());
        q.value = "sha256:" + digest;
        say("SHA-256 of " + file.name + ": " + digest);
        input.disabled = true; // the file stays here
        if (typeof form.requestSubmit === "function") {
          form.requestSubmit();
        } else {
          form.submit();
        }
      } catch (e) {
        say("cannot hash " + file.name + ": " + (e && e.message ? e.message : String(e)));
      } finally {
        busy = false;
      }
    };

    input.addEventListener("change", () => {
      if (input.files && input.files.length > 0) hashFile(input.files[0]);
    });
    // The file input is disabled for the submit; a page restored from the
    // back/forward cache gets it back.
    globalThis.addEventListener("pageshow", () => {
      input.disabled = false;
    });
    // A file dropped anywhere on the form, not just on the input, or on the
    // search page's drop area (#file-drop).
    for (const zone of [form, doc.getElementById("file-drop")]) {
      if (!zone) continue;
      zone.addEventListener("dragover", (e) => {
        if (e.dataTransfer && Array.prototype.includes.call(e.dataTransfer.types || [], "Files")) {
          e.preventDefault();
          e.dataTransfer.dropEffect = "copy";
        }
      });
      zone.addEventListener("drop", (e) => {
        if (e.target === input) return; // the input's own change event hashes it
        if (e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files.length > 0) {
          e.preventDefault();
          hashFile(e.dataTransfer.files[0]);
        }
      });
    }
  }

  if (typeof module === "object" && module && module.exports) {
    module.exports = { sha256Hex, setUp };
  }
  if (typeof document !== "undefined") {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", () => setUp(document));
    } else {
      setUp(document);
    }
  }
})();
