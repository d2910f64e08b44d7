// radicale-ext's links page: a "Copy address" button beside a new link's address. Without scripts the
// button stays hidden and the address is a read-only field whose text can be selected and copied.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button.copy[data-copies]")) {
    const field = document.getElementById(button.dataset.copies);
    const said = button.parentElement.querySelector(".copied");
    if (!field || !said) {
      continue;
    }
    button.hidden = false;
    button.addEventListener("click", async () => {
      field.focus();
      field.select();
      let copied = false;
      try {
        if (navigator.clipboard && window.isSecureContext) {
          await navigator.clipboard.writeText(field.value);
          copied = true;
        } else {
          copied = document.execCommand("copy");   // plain http on a home network: no Clipboard API there
        }
      } catch (e) {
        copied = false;
      }
      said.textContent = copied ? said.dataset.copied : said.dataset.notCopied;
    });
  }
});
