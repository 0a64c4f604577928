// The log-in and sign-up screen.

import * as api from "./api.js";
import { h, clear } from "./h.js";

const app = document.getElementById("app");

/** Shows the form; `onIn` runs once the user is logged in. */
export function renderAuth(onIn, mode = "login", message = "") {
  clear(app);
  const username = h("input", { name: "username", placeholder: "Username", autocomplete: "username", required: true });
  const display = h("input", { name: "display_name", placeholder: "Display name", required: true });
  const password = h("input", {
    name: "password",
    type: "password",
    placeholder: "Password (8+ characters)",
    autocomplete: mode === "login" ? "current-password" : "new-password",
    required: true,
  });
  const form = h(
    "form.auth-form",
    {
      on: {
        submit: async (e) => {
          e.preventDefault();
          try {
            if (mode === "login") await api.login(username.value.trim(), password.value);
            else await api.signup(username.value.trim(), display.value.trim(), password.value);
            onIn();
          } catch (err) {
            renderAuth(onIn, mode, err.message);
          }
        },
      },
    },
    h("h1", "Chat"),
    h("p.tagline", mode === "login" ? "Log in to talk with your friends" : "Create your account"),
    username,
    mode === "signup" ? display : null,
    password,
    message ? h("p.form-error", message) : null,
    h("button.primary", { type: "submit" }, mode === "login" ? "Log in" : "Sign up"),
    h(
      "a.switch",
      { href: "#", on: { click: (e) => { e.preventDefault(); renderAuth(onIn, mode === "login" ? "signup" : "login"); } } },
      mode === "login" ? "No account? Sign up" : "Have an account? Log in",
    ),
  );
  app.append(h("div.auth", form));
}

