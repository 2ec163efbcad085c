// Natter web app entry (placeholder until the app lands).
import { ChatClient } from "@natter/communication-chat";

const app = document.querySelector("#app")!;
app.textContent = typeof ChatClient === "function" ? "Natter" : "SDK missing";
