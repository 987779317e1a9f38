#!/usr/bin/env node
// Times sharp (libvips inside node) on one workload with the same arguments and JSON line as
// scripts/bench_libvips.py, for benches/compare.rs. Run with SHARP_CONCURRENCY=1 for one thread.
// sharp's defaults differ from imgproxy's: we pass the same settings explicitly (JPEG mozjpeg off,
// 4:2:0, optimised Huffman; WebP effort 4; AVIF effort as given).
const fs = require("fs");
const sharp = require("sharp");

function parse(argv) {
  const a = { height: 0, quality: 80, blur: 0, effort: 4, iterations: 10, pages: 1 };
  for (let i = 2; i < argv.length; i += 2) a[argv[i].replace(/^--/, "")] = argv[i + 1];
  for (const k of ["width", "height", "quality", "blur", "effort", "iterations", "pages"]) a[k] = Number(a[k]);
  return a;
}

async function runOnce(buf, a) {
  let img = sharp(buf, { pages: a.pages, limitInputPixels: false })
    .resize(a.width, a.height || null, { fit: "inside", kernel: "lanczos3" });
  if (a.blur > 0) img = img.blur(a.blur);
  if (a.format === "jpeg") img = img.flatten({ background: "#ffffff" }).jpeg({ quality: a.quality, optimiseCoding: true, chromaSubsampling: "4:2:0" });
  else if (a.format === "webp") img = img.webp({ quality: a.quality, effort: 4 });
  else if (a.format === "avif") img = img.avif({ quality: a.quality, effort: a.effort });
  else if (a.format === "png") img = img.png();
  else throw new Error(`unknown format ${a.format}`);
  return img.toBuffer({ resolveWithObject: true });
}

// VmHWM of this process in kB (Linux; includes node itself), or null.
function peakRssKb() {
  try {
    const line = fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("VmHWM:"));
    return line ? Number(line.split(/\s+/)[1]) : null;
  } catch (e) {
    return null;
  }
}

(async () => {
  const a = parse(process.argv);
  sharp.concurrency(Number(process.env.SHARP_CONCURRENCY || 1));
  sharp.cache(false);
  const buf = fs.readFileSync(a.file);
  await runOnce(buf, a);
  const times = [];
  let out;
  for (let i = 0; i < a.iterations; i++) {
    const start = process.hrtime.bigint();
    out = await runOnce(buf, a);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  if (a.save) fs.writeFileSync(a.save, out.data);
  times.sort((x, y) => x - y);
  console.log(JSON.stringify({
    median_ms: times[Math.floor(times.length / 2)], min_ms: times[0], bytes: out.data.length,
    width: out.info.width, height: out.info.height, sharp: sharp.versions.sharp, libvips: sharp.versions.vips,
    peak_rss_kb: peakRssKb(),
  }));
})().catch((e) => { console.error(String(e)); process.exit(1); });
