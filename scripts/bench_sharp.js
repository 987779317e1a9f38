#!/usr/bin/env node
// Times sharp (libvips inside node) on one workload with the same arguments and JSON line as
// scripts/bench_libvips.py, for benches/compare.rs. Run with SHARP_CONCURRENCY=1 for one thread.
// sharp's defaults differ from imgproxy's: we pass the same settings explicitly (JPEG mozjpeg off,
// 4:2:0, optimised Huffman; WebP effort 4; AVIF effort as given). Reports CPU time of the whole process
// (process.cpuUsage: every thread, libuv's pool where sharp works included) next to wall time, and the CPUs
// it may run on (benches/compare.rs pins it with taskset). --lossless 1: same pipeline, lossless output
// (WebP lossless for WebP, PNG otherwise), the reference for the lossy output's SSIM.
const fs = require("fs");
const sharp = require("sharp");

function parse(argv) {
  const a = { height: 0, quality: 80, blur: 0, effort: 4, iterations: 10, pages: 1, lossless: 0 };
  for (let i = 2; i < argv.length; i += 2) a[argv[i].replace(/^--/, "")] = argv[i + 1];
  for (const k of ["width", "height", "quality", "blur", "effort", "iterations", "pages", "lossless"]) a[k] = Number(a[k]);
  return a;
}

async function runOnce(buf, a) {
  let img = sharp(buf, { pages: a.pages, limitInputPixels: false })
    .resize(a.width, a.height || null, { fit: "inside", kernel: "lanczos3" });
  if (a.blur > 0) img = img.blur(a.blur);
  if (a.format === "jpeg") img = img.flatten({ background: "#ffffff" });
  if (a.lossless) img = a.format === "webp" ? img.webp({ lossless: true }) : img.png({ compressionLevel: 1 });
  else if (a.format === "jpeg") img = img.jpeg({ quality: a.quality, optimiseCoding: true, chromaSubsampling: "4:2:0" });
  else if (a.format === "webp") img = img.webp({ quality: a.quality, effort: 4 });
  else if (a.format === "avif") img = img.avif({ quality: a.quality, effort: a.effort });
  else if (a.format === "png") img = img.png();
  else throw new Error(`unknown format ${a.format}`);
  return img.toBuffer({ resolveWithObject: true });
}

// The value of line `name` in /proc/self/status (Linux), e.g. VmHWM (peak RSS in kB, node itself included)
// or Cpus_allowed_list (the CPUs this process may run on), or null.
function statusField(name) {
  try {
    const line = fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(name));
    return line ? line.slice(name.length).trim() : null;
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
  const cpu = [];
  let out;
  for (let i = 0; i < a.iterations; i++) {
    const start = process.hrtime.bigint();
    const startCpu = process.cpuUsage();
    out = await runOnce(buf, a);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    const used = process.cpuUsage(startCpu);
    cpu.push((used.user + used.system) / 1000);
  }
  if (a.save) fs.writeFileSync(a.save, out.data);
  times.sort((x, y) => x - y);
  cpu.sort((x, y) => x - y);
  const peak = statusField("VmHWM:");
  console.log(JSON.stringify({
    median_ms: times[Math.floor(times.length / 2)], median_cpu_ms: cpu[Math.floor(cpu.length / 2)],
    min_ms: times[0], bytes: out.data.length,
    width: out.info.width, height: out.info.height, sharp: sharp.versions.sharp, libvips: sharp.versions.vips,
    peak_rss_kb: peak ? Number(peak.split(/\s+/)[0]) : null, cpus: statusField("Cpus_allowed_list:"),
  }));
})().catch((e) => { console.error(String(e)); process.exit(1); });
