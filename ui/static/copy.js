// copy.js: copy buttons. A <button data-copy="ID"> copies the text of the
// element of id ID (e.g. the raw JSON of an entry) to the clipboard. The
// server renders the buttons hidden (class "needs-js"): this script shows
// them only when the browser has a clipboard it may write, and reports the
// outcome, "copied" or "copy failed", in the role=status element beside the
// button. Buttons are native <button>s: Enter and Space press them.
(function () {
  "use strict";

  function setUp(doc) {
    const clip = globalThis.navigator && globalThis.navigator.clipboard;
    if (!clip || typeof clip.writeText !== "function") return;
    for (const btn of doc.querySelectorAll("button[data-copy]")) {
      const target = doc.getElementById(btn.getAttribute("data-copy"));
      if (!target) continue;
      let status = btn.parentElement && btn.parentElement.querySelector("[role=status]");
      if (!status) {
        status = doc.createElement("span");
        status.setAttribute("role", "status");
        btn.after(status);
      }
      btn.addEventListener("click", async () => {
        status.textContent = "";
        try {
          await clip.writeText(target.textContent);
          status.textContent = "copied";
        } catch (e) {
          status.textContent = "copy failed";
        }
      });
      btn.classList.remove("needs-js");
    }
  }

  if (typeof document !== "undefined") {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", () => setUp(document));
    } else {
      setUp(document);
    }
  }
})();
