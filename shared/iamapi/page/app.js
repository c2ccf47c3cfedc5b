// chpass self-service page: sign in at the OpenID Connect provider (authorization
// code with PKCE, a public client), show the password rules ticked live, and
// change the password through POST /v5/caller-password. No framework, no
// third-party code; the Content-Security-Policy allows only this file.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const store = window.sessionStorage;
  let cfg = null, policy = null, token = null, user = "", expired = false, reset = false;

  function b64url(bytes) {
    let s = "";
    bytes.forEach((b) => { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function random() {
    const a = new Uint8Array(32);
    crypto.getRandomValues(a);
    return b64url(a);
  }
  async function challenge(verifier) {
    const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    return b64url(new Uint8Array(d));
  }
  function say(text) { $("status").textContent = text; }
  function redirectURI() { return location.origin + location.pathname; }

  async function discover() {
    const r = await fetch(cfg.issuer.replace(/\/$/, "") + "/.well-known/openid-configuration");
    if (!r.ok) throw new Error("the sign-in service cannot be reached");
    return r.json();
  }

  // signIn sends the person to the provider; forgotten asks for a fresh sign-in
  // (prompt=login), whose token then resets the password without the old one.
  async function signIn(forgotten) {
    const meta = await discover();
    store.setItem("chpass.mode", forgotten ? "reset" : "change");
    const verifier = random(), state = random();
    store.setItem("chpass.verifier", verifier);
    store.setItem("chpass.state", state);
    const q = new URLSearchParams({
      response_type: "code", client_id: cfg.client_id, redirect_uri: redirectURI(),
      scope: cfg.scope, state: state, code_challenge: await challenge(verifier), code_challenge_method: "S256",
    });
    if (forgotten) q.set("prompt", "login");
    location.assign(meta.authorization_endpoint + "?" + q.toString());
  }

  async function finishSignIn(params) {
    const state = store.getItem("chpass.state"), verifier = store.getItem("chpass.verifier");
    store.removeItem("chpass.state");
    store.removeItem("chpass.verifier");
    history.replaceState(null, "", redirectURI());
    if (!state || params.get("state") !== state || !verifier) throw new Error("the sign-in could not be completed; please sign in again");
    const meta = await discover();
    const r = await fetch(meta.token_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code", code: params.get("code"), redirect_uri: redirectURI(),
        client_id: cfg.client_id, code_verifier: verifier,
      }),
    });
    const t = await r.json();
    const tok = cfg.token === "access_token" ? t.access_token : t.id_token;
    if (!r.ok || !tok) throw new Error("the sign-in service did not give a token");
    return tok;
  }

  function claims(jwt) {
    try {
      const p = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(decodeURIComponent(escape(atob(p))));
    } catch (e) { return {}; }
  }

  // Rules the page can check as the person types; the server checks them all again,
  // with the common-password list and the history.
  function rules() {
    const out = [];
    const p = policy;
    out.push({ id: "minimum_password_length", text: "be at least " + p.minimum_password_length + " characters long",
      ok: (pw) => [...pw].length >= p.minimum_password_length });
    if (p.maximum_password_length) out.push({ id: "maximum_password_length", text: "be at most " + p.maximum_password_length + " characters long",
      ok: (pw) => [...pw].length <= p.maximum_password_length });
    out.push({ id: "password_char_combination",
      text: "use at least " + p.password_char_combination + " of: lower-case letters, upper-case letters, digits, other characters",
      ok: (pw) => [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((re) => re.test(pw)).length >= p.password_char_combination });
    if (p.password_not_username_or_invert && user) out.push({ id: "password_not_username_or_invert",
      text: "not be your user name or your user name reversed",
      ok: (pw) => { const l = pw.toLowerCase(), u = user.toLowerCase(); return l !== u && l !== [...u].reverse().join(""); } });
    if (p.maximum_consecutive_identical_chars > 0) out.push({ id: "maximum_consecutive_identical_chars",
      text: "not repeat a character more than " + p.maximum_consecutive_identical_chars + " times in a row",
      ok: (pw) => !new RegExp("(.)\\1{" + p.maximum_consecutive_identical_chars + "}", "u").test(pw) });
    if (p.block_common_passwords) out.push({ id: "common_password", text: "not be a commonly used password (checked when you submit)", ok: null });
    if (p.password_reuse_prevention > 0) out.push({ id: "password_reuse_prevention",
      text: "differ from your last " + p.password_reuse_prevention + " passwords (checked when you submit)", ok: null });
    return out;
  }

  function renderRules() {
    const ul = $("rules");
    ul.textContent = "";
    for (const r of rules()) {
      const li = document.createElement("li");
      li.id = "rule-" + r.id;
      li.dataset.rule = r.id;
      li.textContent = r.text;
      ul.appendChild(li);
    }
  }

  function tick() {
    const pw = $("new").value;
    for (const r of rules()) {
      const li = document.getElementById("rule-" + r.id);
      if (!li || r.ok === null) continue;
      const ok = pw !== "" && r.ok(pw);
      li.className = pw === "" ? "" : ok ? "ok" : "fail";
      li.setAttribute("aria-label", r.text + (pw === "" ? "" : ok ? ": met" : ": not met"));
    }
  }

  function showViolations(msg, vs) {
    const box = $("violations");
    box.textContent = "";
    const p = document.createElement("p");
    p.textContent = msg;
    box.appendChild(p);
    if (vs && vs.length) {
      const ul = document.createElement("ul");
      for (const v of vs) {
        const li = document.createElement("li");
        li.dataset.rule = v.rule;
        li.textContent = v.message;
        ul.appendChild(li);
      }
      box.appendChild(ul);
    }
    $("new").setAttribute("aria-invalid", "true");
  }

  async function submit(ev) {
    ev.preventDefault();
    $("violations").textContent = "";
    $("result").textContent = "";
    $("result").className = "";
    const oldPw = $("old").value, newPw = $("new").value;
    if (newPw !== $("confirm").value) { showViolations("The two new passwords differ.", []); return; }
    $("submit").disabled = true;
    try {
      // An expired password: no sign-in, the old password is the proof.
      const r = reset
        ? await fetch(cfg.api + "v5/caller-password/reset", {
          method: "POST",
          headers: { "Content-Type": "application/json", "Authorization": "Bearer " + token },
          body: JSON.stringify({ new_password: newPw }),
        })
        : expired
        ? await fetch(cfg.api + "v5/caller-password/old-password", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ user_name: $("user").value, old_password: oldPw, new_password: newPw }),
        })
        : await fetch(cfg.api + "v5/caller-password", {
          method: "POST",
          headers: { "Content-Type": "application/json", "Authorization": "Bearer " + token },
          body: JSON.stringify({ old_password: oldPw, new_password: newPw }),
        });
      if (r.ok) {
        $("form").reset();
        tick();
        $("new").removeAttribute("aria-invalid");
        $("result").className = "success";
        $("result").textContent = "Your password has been changed. Use the new one from now on.";
        return;
      }
      const e = await r.json().catch(() => ({}));
      if (r.status === 401) { token = null; store.removeItem("chpass.token"); }
      showViolations(e.error_msg || "The password could not be changed.", e.violations);
    } catch (e) {
      showViolations("The service cannot be reached; try again later.", []);
    } finally {
      $("submit").disabled = false;
    }
  }

  // showExpired shows the form for an expired password: user name, current and
  // new password, no sign-in.
  function showExpired() {
    expired = true;
    $("signin").hidden = true;
    $("who").textContent = "Your current password proves who you are.";
    $("user-field").hidden = false;
    $("user").required = true;
    $("user").addEventListener("input", () => { user = $("user").value; renderRules(); tick(); });
    renderRules();
    $("new").addEventListener("input", tick);
    $("form").addEventListener("submit", submit);
    $("form").hidden = false;
    $("user").focus();
  }

  async function start() {
    cfg = await (await fetch("config.json")).json();
    policy = (await (await fetch(cfg.api + "v5/password-policy")).json()).password_policy;
    const params = new URLSearchParams(location.search);
    if (params.get("code")) {
      say("Signing you in…");
      token = await finishSignIn(params);
      store.setItem("chpass.token", token);
    } else {
      token = store.getItem("chpass.token");
    }
    if (!token) {
      say("");
      $("signin").hidden = false;
      $("signin-button").addEventListener("click", () => { signIn(false).catch((e) => say(e.message)); });
      if (cfg.reset) {
        $("reset-offer").hidden = false;
        $("reset-button").addEventListener("click", () => { signIn(true).catch((e) => say(e.message)); });
      }
      if (cfg.old_password) {
        $("expired-offer").hidden = false;
        $("expired-button").addEventListener("click", showExpired);
      }
      return;
    }
    user = String(claims(token)[cfg.user_claim] || "");
    $("who").textContent = user ? "Signed in as " + user + "." : "Signed in.";
    if (cfg.reset && store.getItem("chpass.mode") === "reset") {
      // A forgotten password: the fresh sign-in is the proof; no old password.
      reset = true;
      $("old-field").hidden = true;
      $("old").required = false;
      $("who").textContent += " Choose a new password.";
    }
    say("");
    renderRules();
    $("new").addEventListener("input", tick);
    $("form").addEventListener("submit", submit);
    $("form").hidden = false;
    (reset ? $("new") : $("old")).focus();
  }

  start().catch((e) => say(e.message || "The page could not start."));
})();
