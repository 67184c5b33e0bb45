// One case of the image API through the official openai npm package, of the major that
// OPENAI_PACKAGE names ("openai", or an alias of package.json such as "openai-6");
// tests/test_api_clients.py runs it with each.
// Usage: OPENAI_PACKAGE=... BASE_URL=... API_KEY=... IMAGE=path.png node images.mjs CASE
//   -> prints a JSON summary.
import fs from "node:fs";

const { default: OpenAI, toFile } = await import(process.env.OPENAI_PACKAGE);

const connect = (apiKey, maxRetries = 0) =>
  new OpenAI({ apiKey, baseURL: process.env.BASE_URL, maxRetries });
const client = connect(process.env.API_KEY);
const IMAGE = process.env.IMAGE;
const EDIT = { model: "qwen-image-edit-plus", prompt: "add a rainbow" };

const cases = {
  async generate() {
    const response = await client.images.generate({
      model: "qwen-image",
      prompt: "a paper boat on a pond",
      size: "512x384",
    });
    return { url: response.data[0].url, size: response.size };
  },

  async edit() {
    return {
      "file stream": await made(fs.createReadStream(IMAGE), 1),
      "file stream via toFile": await made(
        await toFile(fs.createReadStream(IMAGE), "source.png", { type: "image/png" }),
        1,
      ),
      "several file streams": await made(
        [fs.createReadStream(IMAGE), fs.createReadStream(IMAGE)],
        2,
      ),
    };
  },

  async stream_generation() {
    return events(
      await client.images.generate({
        model: "qwen-image",
        prompt: "a paper boat on a pond",
        stream: true,
        partial_images: 2,
      }),
    );
  },

  async stream_edit() {
    return events(
      await client.images.edit({
        ...EDIT,
        image: fs.createReadStream(IMAGE),
        stream: true,
        partial_images: 2,
      }),
    );
  },

  // A stream whose run fails after it began: the package throws the error event.
  async stream_failure() {
    try {
      await events(await client.images.generate({ model: "qwen-image", prompt: "x", stream: true }));
    } catch (error) {
      return { error: error.constructor.name, code: error.code ?? null, message: error.message };
    }
    return null;
  },

  // A call whose generation its user cancels while it runs, with the package's default
  // retries (two): it throws, and is not sent again.
  async cancelled() {
    const retrying = connect(process.env.API_KEY, 2);
    try {
      await retrying.images.generate({ model: "qwen-image", prompt: "cancel me" });
    } catch (error) {
      return {
        ...refused(error),
        generation: error.headers?.get("x-generation-id") ?? null,
        should_retry: error.headers?.get("x-should-retry") ?? null,
      };
    }
    return null;
  },

  async errors() {
    const wrongKey = connect("sk-wrong");
    return {
      "wrong key": await refusal(() =>
        wrongKey.images.generate({ model: "qwen-image", prompt: "x" }),
      ),
      "bad size": await refusal(() =>
        client.images.generate({ model: "qwen-image", prompt: "x", size: "big" }),
      ),
    };
  },
};

// The generation an edit made, and how many images it was sent.
async function made(image, images) {
  const { response } = await client.images.edit({ ...EDIT, image }).withResponse();
  return { generation: response.headers.get("x-generation-id"), images };
}

// The types of the events streamed, and the last one's image.
async function events(stream) {
  const types = [];
  let b64_json = null;
  for await (const event of stream) {
    types.push(event.type);
    b64_json = event.b64_json;
  }
  return { types, b64_json };
}

async function refusal(call) {
  try {
    await call();
  } catch (error) {
    return refused(error);
  }
  return null;
}

function refused(error) {
  const { status, code, param } = error;
  return { error: error.constructor.name, status, code, param };
}

console.log(JSON.stringify(await cases[process.argv[2]]()));
