// Notices and reminders: a "Copy" button beside the webhook's signing secret, which is shown once.
// Without scripts (or without a clipboard) the button stays hidden and the secret can be selected.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  if (!navigator.clipboard) {
    return;
  }
  for (const button of document.querySelectorAll("button.copy[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source) {
      continue;
    }
    button.hidden = false;
    button.addEventListener("click", () => {
      navigator.clipboard.writeText(source.textContent.trim()).then(() => {
        button.textContent = button.dataset.done || button.textContent;
      });
    });
  }
});
