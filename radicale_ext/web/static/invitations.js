// The invitations page: ticking or clearing a "Subscribed" check saves it at once (the Save button
// beside it stays for keyboards and browsers without scripts).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll("form.subscription input[name=subscribed]")) {
    box.addEventListener("change", () => box.form.requestSubmit());
  }
});
