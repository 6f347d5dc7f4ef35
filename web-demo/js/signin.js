// The sign-in picker: mints a dev token (or takes a pasted one) and opens the right page.

import { devToken, me, setToken } from "./client.js";
import { $, notice } from "./ui.js";

function go() {
  const who = me();
  if (!who?.type) {
    notice("This token has no participant type; it cannot sign in.", "error");
    return;
  }
  location.href = who.type === "CRM_USER" ? "/agent.html" : "/customer.html";
}

async function signIn(profile) {
  try {
    setToken(await devToken(profile));
    go();
  } catch (err) {
    notice(err.message, "error");
  }
}

for (const b of document.querySelectorAll("[data-pick]")) {
  b.onclick = () =>
    signIn({
      userId: b.dataset.pick,
      tenantId: $("#custom [name=tenantId]").value || "acme",
      participantType: b.dataset.type,
      firstName: b.dataset.first,
      lastName: b.dataset.last,
      email: `${b.dataset.pick}@example.com`,
    });
}

$("#custom").onsubmit = (e) => {
  e.preventDefault();
  const f = Object.fromEntries(new FormData(e.target));
  signIn({ ...f, email: `${f.userId}@example.com` });
};

$("#paste").onsubmit = (e) => {
  e.preventDefault();
  setToken(new FormData(e.target).get("token").trim());
  go();
};
