// png.mjs — writes small 8-bit RGB PNG files for the API and browser tests with node's zlib (so a
// test never depends on an image it cannot see being made), and reads a PNG's size back.
//   makePng(w, h, (x, y) => [r, g, b], { level })   pngFromIdat(w, h, idat)   pngSize(buf)
//   pngWithText(png, [[type, key, value], ...])   (tEXt / iTXt / zTXt chunks after IHDR)
import { deflateSync } from 'node:zlib';

const SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A PNG whose header says width x height (8-bit RGB) around the given compressed IDAT data,
 *  which need not match the header (the API tests build decompression bombs with it). */
export function pngFromIdat(width, height, idat) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0; // 8-bit RGB
  return Buffer.concat([SIG, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

/** An RGB PNG; pixel(x, y) is called row by row, left to right, and returns [r, g, b]. */
export function makePng(width, height, pixel, { level } = {}) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  let o = 0;
  for (let y = 0; y < height; y++) {
    raw[o++] = 0;
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      raw[o++] = r; raw[o++] = g; raw[o++] = b;
    }
  }
  return pngFromIdat(width, height, deflateSync(raw, level === undefined ? {} : { level }));
}

/** Reads width and height from a PNG's IHDR (throws if it is not a PNG). */
export function pngSize(buf) {
  if (buf.length < 24 || buf.readUInt32BE(0) !== 0x89504e47 || buf.toString('ascii', 12, 16) !== 'IHDR') {
    throw new Error('not a PNG');
  }
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

/** The PNG with text chunks added after its IHDR: [type, key, value] with type 'tEXt' (Latin-1),
 *  'zTXt' (Latin-1, deflated) or 'iTXt' (UTF-8, uncompressed). */
export function pngWithText(png, texts) {
  const parts = texts.map(([type, key, value]) => {
    const k = Buffer.from(key, 'latin1');
    if (type === 'tEXt') return chunk(type, Buffer.concat([k, Buffer.from([0]), Buffer.from(value, 'latin1')]));
    if (type === 'zTXt') return chunk(type, Buffer.concat([k, Buffer.from([0, 0]), deflateSync(Buffer.from(value, 'latin1'))]));
    return chunk('iTXt', Buffer.concat([k, Buffer.from([0, 0, 0, 0, 0]), Buffer.from(value, 'utf8')]));
  });
  const ihdrEnd = 8 + 12 + png.readUInt32BE(8);
  return Buffer.concat([png.subarray(0, ihdrEnd), ...parts, png.subarray(ihdrEnd)]);
}
