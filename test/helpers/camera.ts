import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';

/**
 * Writes a still photo as a one-frame Y4M video (4:2:0, BT.601 studio range) for Chromium's fake camera
 * (--use-file-for-fake-video-capture), which plays it in a loop. The photo is turned upright by its EXIF
 * orientation and fitted inside width x height on a dark background.
 */
export async function photoToY4m(photo: string, out: string, width = 640, height = 480): Promise<void> {
  const { data } = await sharp(photo).rotate().resize(width, height, { fit: 'contain', background: { r: 40, g: 40, b: 40 } }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const y = Buffer.alloc(width * height);
  const u = Buffer.alloc((width / 2) * (height / 2));
  const v = Buffer.alloc((width / 2) * (height / 2));
  const clamp = (x: number) => Math.max(0, Math.min(255, Math.round(x)));
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const i = (row * width + col) * 3;
      const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
      y[row * width + col] = clamp(16 + 0.257 * r + 0.504 * g + 0.098 * b);
    }
  }
  for (let row = 0; row < height; row += 2) {
    for (let col = 0; col < width; col += 2) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [dr, dc] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
        const i = ((row + dr) * width + col + dc) * 3;
        r += data[i]!;
        g += data[i + 1]!;
        b += data[i + 2]!;
      }
      [r, g, b] = [r / 4, g / 4, b / 4];
      const k = (row / 2) * (width / 2) + col / 2;
      u[k] = clamp(128 - 0.148 * r - 0.291 * g + 0.439 * b);
      v[k] = clamp(128 + 0.439 * r - 0.368 * g - 0.071 * b);
    }
  }
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F30:1 Ip A1:1 C420jpeg\nFRAME\n`);
  await writeFile(out, Buffer.concat([header, y, u, v]));
}
