// Drives `veil serve` with the official OpenAI Node client; prints one JSON object of results.
// Usage: node client.mjs BASE_URL MODEL PROMPT MAX_TOKENS [CHAT_MODEL]   (API key in OPENAI_API_KEY)
import OpenAI from "openai";

const [baseURL, model, prompt, maxTokens, chatModel] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: process.env.OPENAI_API_KEY, maxRetries: 0, timeout: 60000 });
const out = {};

out.models = (await client.models.list()).data.map((m) => m.id);

const c = await client.completions.create({ model, prompt, max_tokens: Number(maxTokens), temperature: 0 });
out.completion = { text: c.choices[0].text, finish_reason: c.choices[0].finish_reason, usage: c.usage, object: c.object };

let streamed = "";
let streamFinish = null;
let usage = null;
const s = await client.completions.create({
  model, prompt, max_tokens: Number(maxTokens), temperature: 0, stream: true, stream_options: { include_usage: true },
});
for await (const chunk of s) {
  if (chunk.usage) usage = chunk.usage;
  for (const ch of chunk.choices) {
    streamed += ch.text ?? "";
    if (ch.finish_reason) streamFinish = ch.finish_reason;
  }
}
out.stream = { text: streamed, finish_reason: streamFinish, usage };

if (chatModel) {
  const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: prompt }];
  const r = await client.chat.completions.create({ model: chatModel, messages, max_tokens: Number(maxTokens), temperature: 0 });
  let chatStreamed = "";
  const cs = await client.chat.completions.create({ model: chatModel, messages, max_tokens: Number(maxTokens), temperature: 0, stream: true });
  for await (const chunk of cs) chatStreamed += chunk.choices[0]?.delta?.content ?? "";
  out.chat = { text: r.choices[0].message.content, role: r.choices[0].message.role, finish_reason: r.choices[0].finish_reason, streamed: chatStreamed };
}

try {
  await client.completions.create({ model: "no-such-model", prompt: "x" });
  out.unknown_model = { status: 0 };
} catch (e) {
  out.unknown_model = { status: e.status, type: e.type, code: e.code, param: e.param, is_api_error: e instanceof OpenAI.APIError };
}
try {
  await client.completions.create({ model, prompt: "x", temperature: 7 });
  out.bad_temperature = { status: 0 };
} catch (e) {
  out.bad_temperature = { status: e.status, type: e.type, param: e.param };
}
try {
  await new OpenAI({ baseURL, apiKey: "wrong-key-wrong-key", maxRetries: 0 }).models.list();
  out.wrong_key = { status: 0 };
} catch (e) {
  out.wrong_key = { status: e.status, code: e.code, is_auth_error: e instanceof OpenAI.AuthenticationError };
}
console.log(JSON.stringify(out));
