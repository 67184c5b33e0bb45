// Copy buttons: one on every code block (<pre>), and the buttons a page marks with
// data-copy="<selector>", which copy that element's text (or an input's value). Each says
// "Copied" for a moment, and a live region tells screen readers. Code blocks that htmx swaps
// in get their buttons too; marked buttons work wherever they appear (one listener).
"use strict";

(() => {
  if (!navigator.clipboard) return; // not a secure context: marked buttons stay hidden (CSS)
  document.documentElement.classList.add("can-copy");

  const FEEDBACK_MS = 2000;
  let announcer;

  function announce(message) {
    if (!announcer) {
      announcer = document.createElement("p");
      announcer.className = "visually-hidden";
      announcer.setAttribute("aria-live", "polite");
      document.body.append(announcer);
    }
    announcer.textContent = message;
  }

  async function copy(button, source) {
    const text = "value" in source ? source.value : source.textContent;
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    try {
      await navigator.clipboard.writeText(text.trim());
      button.textContent = "Copied";
      announce("Copied to the clipboard.");
    } catch {
      button.textContent = "Copy failed";
      announce("Could not copy: select the text and copy it yourself.");
    }
    clearTimeout(button.copyTimer);
    button.copyTimer = setTimeout(() => { button.textContent = label; }, FEEDBACK_MS);
  }

  function addCodeButtons(root) {
    for (const pre of root.querySelectorAll("pre:not(.copyable pre)")) {
      const wrapper = document.createElement("div");
      wrapper.className = "copyable";
      pre.replaceWith(wrapper);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "copy-button";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy code");
      button.addEventListener("click", () => copy(button, pre));
      wrapper.append(pre, button);
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-copy]");
    const source = button && document.querySelector(button.dataset.copy);
    if (source) copy(button, source);
  });
  document.addEventListener("htmx:load", (event) => addCodeButtons(event.detail.elt));
  addCodeButtons(document);
})();
