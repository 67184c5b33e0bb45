// One generation and one edit through the official openai npm package.
// Usage: BASE_URL=... API_KEY=... IMAGE=path.png node images.mjs  -> prints a JSON summary.
import fs from "node:fs";
import OpenAI, { toFile } from "openai";

const client = new OpenAI({ apiKey: process.env.API_KEY, baseURL: process.env.BASE_URL, maxRetries: 0 });

const generated = await client.images.generate({
  model: "qwen-image",
  prompt: "a paper boat on a pond",
  size: "512x384",
});
const edited = await client.images.edit({
  model: "qwen-image-edit-plus",
  image: [
    await toFile(fs.createReadStream(process.env.IMAGE), "first.png", { type: "image/png" }),
    await toFile(fs.createReadStream(process.env.IMAGE), "second.png", { type: "image/png" }),
  ],
  prompt: "add a rainbow",
  response_format: "b64_json",
});
let unauthorized = null;
try {
  await new OpenAI({ apiKey: "sk-wrong", baseURL: process.env.BASE_URL, maxRetries: 0 }).models.list();
} catch (error) {
  unauthorized = { status: error.status, code: error.code };
}
console.log(JSON.stringify({
  generatedUrl: generated.data[0].url,
  editedBytes: Buffer.from(edited.data[0].b64_json, "base64").length,
  unauthorized,
}));
