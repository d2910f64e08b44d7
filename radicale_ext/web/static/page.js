// radicale-ext's page: small help on top of forms that work without it.
// - The language list changes the language as soon as a language is picked (the button stays for
//   keyboards and browsers without scripts).
// - After a refusal, the focus goes to the sentence that says why, so a screen reader reads it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const language = document.getElementById("language");
  if (language && language.form) {
    language.addEventListener("change", () => language.form.requestSubmit());
  }
  const problem = document.querySelector(".problem[role=alert]");
  if (problem) {
    problem.setAttribute("tabindex", "-1");
    problem.focus();
  }
});
