// radicale-ext's My card page: the preview beside each audience's boxes follows the boxes as they
// change. It asks the page's own /card/preview (the same form, with part=preview), which answers what
// that audience would see, nothing saved. Without JavaScript each form's "Preview" button shows the
// whole page with that preview; with it, the button is not needed and is hidden.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-preview]")) {
    const pane = document.getElementById(form.dataset.pane);
    if (!pane) {
      continue;
    }
    let timer = 0;
    let asked = 0;
    const ask = async () => {
      const number = ++asked;
      const body = new URLSearchParams(new FormData(form));
      body.set("part", "preview");
      try {
        const answer = await fetch(form.dataset.preview, { method: "POST", body, credentials: "same-origin",
                                                          redirect: "error" });
        if (!answer.ok || number !== asked) {
          return;   // a refusal (session ended...) leaves the preview as it was; an older answer is dropped
        }
        const shown = new DOMParser().parseFromString(await answer.text(), "text/html");
        pane.replaceChildren(...Array.from(shown.body.childNodes, (node) => document.importNode(node, true)));
        pane.dataset.shown = String(number);
      } catch (_error) {
        // offline or refused: the Preview button below still works
        form.querySelectorAll(".preview-button").forEach((button) => { button.hidden = false; });
      }
    };
    form.addEventListener("change", (event) => {
      if (event.target instanceof HTMLInputElement && event.target.type === "checkbox") {
        clearTimeout(timer);
        timer = setTimeout(ask, 150);
      }
    });
    form.querySelectorAll(".preview-button").forEach((button) => { button.hidden = true; });
  }
});
