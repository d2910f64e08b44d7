// The share page's typeahead, on top of forms that work without it (docs/web.md, "Share").
// - Typing a name into a search field (data-find="<fieldset id>") offers the people and circles
//   found at once, as radio buttons in that fieldset, as the Search button does with a new page.
//   It asks the page's own /shares/find (names only) and builds the buttons with textContent.
// - "At once" can be chosen only for whom the server allows it (data-at-once of the chosen one).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const atOnce = document.getElementById("how-at-once");
  const byInvitation = document.getElementById("how-invitation");
  const shareForm = document.getElementById("share-form");

  function allowAtOnce() {
    if (!atOnce || !shareForm) return;
    const chosen = shareForm.querySelector("input[name=who]:checked");
    atOnce.disabled = chosen !== null && chosen.dataset.atOnce !== "yes";
    if (atOnce.disabled && atOnce.checked) byInvitation.checked = true;
  }

  function offer(fieldset, found) {
    for (const old of fieldset.querySelectorAll("p")) old.remove();
    found.forEach((entry, index) => {
      const line = document.createElement("p");
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = "who";
      radio.required = true;
      radio.id = `${fieldset.id}-${index + 1}`;
      radio.value = entry.who;
      radio.dataset.atOnce = entry.at_once ? "yes" : "no";
      radio.checked = found.length === 1;
      const label = document.createElement("label");
      label.htmlFor = radio.id;
      label.textContent = entry.words;
      line.append(radio, " ", label);
      fieldset.append(line);
    });
    if (found.length === 0) {
      const line = document.createElement("p");
      line.className = "hint";
      line.textContent = fieldset.dataset.none;
      fieldset.append(line);
    }
    allowAtOnce();
  }

  for (const field of document.querySelectorAll("input[data-find]")) {
    const fieldset = document.getElementById(field.dataset.find);
    let timer = null;
    let asked = 0;
    field.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const query = field.value.trim();
        const ticket = ++asked;
        if (!query) return;
        try {
          const answer = await fetch(`${field.dataset.findUrl}?q=${encodeURIComponent(query)}`,
                                     {credentials: "same-origin", headers: {Accept: "application/json"}});
          if (answer.ok && ticket === asked) offer(fieldset, (await answer.json()).found);
        } catch (error) {
          // offline or logged out: the Search button still works
        }
      }, 200);
    });
  }
  if (shareForm) shareForm.addEventListener("change", allowAtOnce);
  allowAtOnce();
});
