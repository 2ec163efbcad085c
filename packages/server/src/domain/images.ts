// Chat images (UploadChatImage, the chat preview api-versions): which bytes are an image Natter keeps, and the
// ids it hands out. The formats are the swagger's (jpeg, png, gif, heic, webp), told by their signatures, never
// by what the client claims, so an image is always served with a type that matches its bytes.
import { randomBytes } from "node:crypto";

const ascii = (data: Uint8Array, at: number, text: string) =>
  data.length >= at + text.length && [...text].every((c, i) => data[at + i] === c.charCodeAt(0));

/** HEIF brands of HEIC images (ISO/IEC 23008-12). */
const HEIC_BRANDS = ["heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1"];

/** The content type of an image in an accepted format, or undefined when the bytes are none of them. */
export function sniffImageType(data: Uint8Array): string | undefined {
  if (data.length >= 8 && [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((b, i) => data[i] === b)) return "image/png";
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return "image/jpeg";
  if (ascii(data, 0, "GIF87a") || ascii(data, 0, "GIF89a")) return "image/gif";
  if (ascii(data, 0, "RIFF") && ascii(data, 8, "WEBP")) return "image/webp";
  if (ascii(data, 4, "ftyp") && HEIC_BRANDS.some((brand) => ascii(data, 8, brand))) return "image/heic";
  return undefined;
}

/** A new image id: 32 hex digits (ACS's look like `0-eus-d2-<32 hex digits>`; clients treat them as opaque). */
export function newImageId(): string {
  return randomBytes(16).toString("hex");
}
