// Read ComfyUI metadata embedded in saved images (contract §10.4). Pure functions over bytes.

const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Text chunks of a PNG: tEXt (latin-1), iTXt (UTF-8, maybe deflated) and ComfyUI's `comf` chunks. */
export async function readPngText(buffer) {
  const bytes = new Uint8Array(buffer);
  if (!PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return {};
  const view = new DataView(buffer);
  const latin1 = new TextDecoder("latin1");
  const utf8 = new TextDecoder("utf-8");
  const result = {};
  let offset = 8;
  while (offset + 8 <= bytes.length) {
    const length = view.getUint32(offset);
    const type = latin1.decode(bytes.subarray(offset + 4, offset + 8));
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === "tEXt" || type === "comf" || type === "iTXt") {
      const nul = data.indexOf(0);
      if (nul > 0) {
        const key = latin1.decode(data.subarray(0, nul));
        if (type === "tEXt") result[key] = latin1.decode(data.subarray(nul + 1));
        else if (type === "comf") result[key] = utf8.decode(data.subarray(nul + 1));
        else {
          const compressed = data[nul + 1] === 1;
          let p = nul + 3;
          p = data.indexOf(0, p) + 1; // language tag
          p = data.indexOf(0, p) + 1; // translated keyword
          const text = data.subarray(p);
          result[key] = utf8.decode(compressed ? await inflate(text) : text);
        }
      }
    }
    if (type === "IEND") break;
    offset += 12 + length;
  }
  return result;
}

/** ASCII entries of the EXIF IFD0 in a WEBP's EXIF chunk, split as "key:value". */
export function readWebpText(buffer) {
  const bytes = new Uint8Array(buffer);
  const ascii = new TextDecoder("latin1");
  if (ascii.decode(bytes.subarray(0, 4)) !== "RIFF" || ascii.decode(bytes.subarray(8, 12)) !== "WEBP") return {};
  const view = new DataView(buffer);
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const type = ascii.decode(bytes.subarray(offset, offset + 4));
    const size = view.getUint32(offset + 4, true);
    if (type === "EXIF") return parseExif(buffer, offset + 8, size);
    offset += 8 + size + (size % 2);
  }
  return {};
}

function parseExif(buffer, start, size) {
  const bytes = new Uint8Array(buffer, start, size);
  let base = 0;
  if (bytes[0] === 0x45 && bytes[1] === 0x78) base = 6; // "Exif\0\0" header
  const view = new DataView(buffer, start + base, size - base);
  const little = view.getUint16(0) === 0x4949;
  const ifd = view.getUint32(4, little);
  const count = view.getUint16(ifd, little);
  const utf8 = new TextDecoder("utf-8");
  const result = {};
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    const format = view.getUint16(entry + 2, little);
    const length = view.getUint32(entry + 4, little);
    if (format !== 2) continue;
    const valueOffset = length <= 4 ? entry + 8 : view.getUint32(entry + 8, little);
    let text = utf8.decode(new Uint8Array(view.buffer, view.byteOffset + valueOffset, length));
    text = text.replace(/\0+$/, "");
    const colon = text.indexOf(":");
    if (colon > 0) result[text.slice(0, colon)] = text.slice(colon + 1);
  }
  return result;
}

/** `{workflow?, prompt?}` parsed from a dropped/opened file, or null when it carries nothing usable. */
export async function readWorkflowFromFile(file) {
  const name = file.name.toLowerCase();
  const buffer = await file.arrayBuffer();
  let texts = {};
  if (file.type === "image/png" || name.endsWith(".png")) texts = await readPngText(buffer);
  else if (file.type === "image/webp" || name.endsWith(".webp")) texts = readWebpText(buffer);
  else if (file.type === "application/json" || name.endsWith(".json")) {
    const data = JSON.parse(new TextDecoder().decode(buffer));
    if (isApiPrompt(data)) return { prompt: data };
    return { workflow: data };
  } else return null;
  const parse = (s) => { try { return s ? JSON.parse(s) : undefined; } catch { return undefined; } };
  const workflow = parse(texts.workflow);
  const prompt = parse(texts.prompt);
  if (!workflow && !prompt) return null;
  return { workflow, prompt };
}

/** API format: every value has a string class_type and an object inputs (§10.4). */
export function isApiPrompt(data) {
  if (!data || typeof data !== "object" || Array.isArray(data) || Array.isArray(data.nodes)) return false;
  const values = Object.values(data);
  return values.length > 0 && values.every((v) => v && typeof v.class_type === "string"
    && v.inputs && typeof v.inputs === "object");
}
