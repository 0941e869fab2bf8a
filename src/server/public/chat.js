// The chat page: independent chat windows, each its own session on the server (X-Session-Id),
// streaming replies side by side. Each request sends only the new message: the server keeps the
// conversation in the session's scope.

const windows = document.getElementById("windows");
const template = document.getElementById("window-template");
const settings = {
  maxTokens: document.getElementById("max-tokens"),
  temperature: document.getElementById("temperature"),
  apiKey: document.getElementById("api-key"),
};

function addWindow() {
  const section = template.content.firstElementChild.cloneNode(true);
  const log = section.querySelector(".log");
  const form = section.querySelector(".compose");
  const input = form.elements.message;
  let sessionId = newSessionId(section);

  section.querySelector(".new-session").addEventListener("click", () => {
    log.replaceChildren();
    sessionId = newSessionId(section);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text === "" || section.dataset.state === "streaming") return;
    input.value = "";
    append(log, "user", text);
    await stream(section, log, sessionId, text);
  });
  windows.append(section);
  return section;
}

function newSessionId(section) {
  const id = crypto.randomUUID();
  section.dataset.session = id;
  section.querySelector(".session").textContent = `session ${id.slice(0, 8)}`;
  return id;
}

function append(log, kind, text) {
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = text;
  log.append(item);
  log.scrollTop = log.scrollHeight;
  return item;
}

/** Sends one message and streams the reply into the window; the window's data-* attributes say how it went. */
async function stream(section, log, sessionId, text) {
  const reply = append(log, "assistant", "");
  Object.assign(section.dataset, { state: "streaming", chunks: "0", firstChunkAt: "", lastChunkAt: "" });
  const headers = { "content-type": "application/json", "x-session-id": sessionId };
  if (settings.apiKey.value !== "") headers.authorization = `Bearer ${settings.apiKey.value}`;
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers,
      body: JSON.stringify({
        messages: [{ role: "user", content: text }],
        stream: true,
        max_tokens: Number(settings.maxTokens.value),
        temperature: Number(settings.temperature.value),
      }),
    });
    if (!response.ok) throw new Error((await response.json()).error?.message ?? `HTTP ${response.status}`);
    for await (const event of serverSentEvents(response.body)) {
      if (event.error !== undefined) throw new Error(event.error.message);
      const content = event.choices?.[0]?.delta?.content;
      if (!content) continue;
      const now = String(performance.now());
      if (section.dataset.firstChunkAt === "") section.dataset.firstChunkAt = now;
      section.dataset.lastChunkAt = now;
      section.dataset.chunks = String(Number(section.dataset.chunks) + 1);
      reply.textContent += content;
      log.scrollTop = log.scrollHeight;
    }
    section.dataset.state = "done";
  } catch (error) {
    reply.remove();
    append(log, "error", error.message);
    section.dataset.state = "error";
  }
}

/** The JSON events of a server-sent event stream, until `data: [DONE]`. */
async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split("\n")
        .filter((line) => line.startsWith("data: "))
        .map((line) => line.slice(6))
        .join("\n");
      if (data === "[DONE]") return;
      if (data !== "") yield JSON.parse(data);
    }
  }
}

async function showModel() {
  try {
    const headers = settings.apiKey.value === "" ? {} : { authorization: `Bearer ${settings.apiKey.value}` };
    const { data } = await (await fetch("/v1/models", { headers })).json();
    document.getElementById("model").textContent = data[0].id;
  } catch {
    // Without the key the model's name stays hidden; chatting tells what is wrong.
  }
}

document.getElementById("add-window").addEventListener("click", addWindow);
settings.apiKey.addEventListener("change", showModel);
addWindow();
addWindow();
showModel();
