// The browser chat: sends each message with every run's turns so far to POST /api/reply and
// shows the replies side by side. The server keeps no conversation; this page holds it (see
// seq2seq/web/api.py). Text from the server is always shown as text, never parsed as HTML.
"use strict";

const state = { runs: [], turns: [], busy: false };
const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function archBadge(arch) {
  return element("span", `arch ${arch}`, arch);
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function callApi(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

// --- the runs and their settings -------------------------------------------------------------

function showRuns(runs) {
  const list = $("runs");
  for (const run of runs) {
    const item = element("li");
    item.append(archBadge(run.arch), element("strong", "", run.label));
    const context = run.context_turns > 1 ? `reads ${run.context_turns} turns` : "reads one line";
    const details = ` ${run.parameters.toLocaleString("en")} parameters, `
      + `${run.steps.toLocaleString("en")} steps, ${context}`;
    item.append(element("span", "details", details));
    list.append(item);
  }
}

function buildSettings(runs, choices) {
  const fields = $("fields");
  for (const key of Object.keys(runs[0].settings)) {
    const values = new Set(runs.map((run) => String(run.settings[key])));
    const shared = values.size === 1 ? [...values][0] : "";
    const label = element("label", "", key);
    let input;
    if (key in choices) {
      input = element("select");
      if (!shared) input.append(element("option", "", ""));
      for (const name of choices[key]) input.append(element("option", "", name));
    } else {
      input = element("input");
      input.type = "number";
      input.step = "any";
      input.placeholder = shared ? "" : "per run";
    }
    input.name = key;
    input.value = shared;
    label.append(input);
    fields.append(label);
  }
}

function currentSettings() {
  const settings = {};
  for (const input of $("fields").querySelectorAll("input, select")) {
    if (input.value === "") continue;
    settings[input.name] = input.tagName === "SELECT" ? input.value : Number(input.value);
  }
  return settings;
}

// --- the conversation ------------------------------------------------------------------------

function addExchange(message) {
  const exchange = element("section", "exchange");
  exchange.append(element("div", "you", message));
  const replies = element("div", "replies");
  state.runs.forEach((run, index) => {
    const card = element("article", "reply pending");
    card.dataset.run = String(index);
    const who = element("div", "who");
    who.append(archBadge(run.arch), element("span", "label", run.label));
    card.append(who, element("div", "text", "…"), element("div", "time"));
    replies.append(card);
  });
  exchange.append(replies);
  $("log").append(exchange);
  exchange.scrollIntoView({ block: "end" });
  return exchange;
}

function fillReplies(exchange, replies) {
  replies.forEach((reply, index) => {
    const card = exchange.querySelector(`.reply[data-run="${index}"]`);
    card.classList.remove("pending");
    const text = card.querySelector(".text");
    text.textContent = reply.reply || "(no reply)";
    text.classList.toggle("empty", !reply.reply);
    card.querySelector(".time").textContent = `${reply.seconds.toFixed(2)} s`;
    for (const note of reply.notes) card.append(element("div", "note", note));
  });
  exchange.scrollIntoView({ block: "end" });
}

function setBusy(busy) {
  state.busy = busy;
  $("send").disabled = busy;
  $("reset").disabled = busy;
}

async function send(event) {
  event.preventDefault();
  const message = $("message").value.trim();
  if (!message || state.busy) return;
  setBusy(true);
  showError("");
  const exchange = addExchange(message);
  try {
    const data = await callApi("/api/reply", {
      message, turns: state.turns, settings: currentSettings(),
    });
    fillReplies(exchange, data.replies);
    state.turns = data.replies.map((reply) => reply.turns);
    $("message").value = "";
  } catch (error) {
    exchange.remove();
    showError(error.message);
  } finally {
    setBusy(false);
    $("message").focus();
  }
}

function reset() {
  state.turns = state.runs.map(() => []);
  $("log").replaceChildren();
  showError("");
  $("message").focus();
}

async function start() {
  try {
    const data = await callApi("/api/runs");
    state.runs = data.runs;
    state.turns = data.runs.map(() => []);
    showRuns(data.runs);
    buildSettings(data.runs, data.choices);
    $("message").maxLength = data.limits.message_chars;
  } catch (error) {
    showError(`cannot reach the chat server: ${error.message}`);
    return;
  }
  $("composer").addEventListener("submit", send);
  $("settings").addEventListener("submit", (event) => event.preventDefault());
  $("reset").addEventListener("click", reset);
  document.body.dataset.ready = "true";
}

start();
