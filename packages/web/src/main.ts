// Natter web app entry: styles (a file, never inline: the CSP allows only 'self') and the Preact root.
import "./styles.css";
import { h, render } from "preact";
import { App } from "./app";

const root = document.querySelector("#app");
if (root) {
  root.textContent = "";
  render(h(App, {}), root);
}
