// bench_ort.js: times ONNX Runtime (node) on a model with a random 1x3x512x512 input, 2 threads.
//
// Usage: NODE_PATH=/tmp/ort/node_modules node tools/bench_ort.js DIR/unet3-512.onnx
// (onnxruntime-node: mkdir -p /tmp/ort && cd /tmp/ort && npm install onnxruntime-node
// --ignore-scripts; the model from tools/bench_unet.py DIR). One warm-up run, then
// the median of 5; prints seconds and the peak resident set size seen.
'use strict';
const ort = require('onnxruntime-node');

async function main() {
	const file = process.argv[2];
	if (!file) {
		console.error('usage: bench_ort.js MODEL.onnx');
		process.exit(2);
	}
	let peak = process.memoryUsage().rss;
	const sample = () => { peak = Math.max(peak, process.memoryUsage().rss); };
	const timer = setInterval(sample, 5);
	const s = await ort.InferenceSession.create(file,
		{intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential'});
	const n = 3 * 512 * 512;
	const data = new Float32Array(n);
	let seed = 1;
	for (let i = 0; i < n; i++) {
		seed = (seed * 1103515245 + 12345) >>> 0;
		data[i] = seed / 4294967296;
	}
	const feeds = {[s.inputNames[0]]: new ort.Tensor('float32', data, [1, 3, 512, 512])};
	await s.run(feeds);
	sample();
	const times = [];
	for (let i = 0; i < 5; i++) {
		const t = process.hrtime.bigint();
		await s.run(feeds);
		times.push(Number(process.hrtime.bigint() - t) / 1e9);
		sample();
	}
	clearInterval(timer);
	times.sort((a, b) => a - b);
	console.log('onnxruntime-node %s, 2 threads, 1x3x512x512: median %s s (min %s), peak RSS %s MB',
		ort.env.versions ? ort.env.versions.common : '?', times[2].toFixed(3),
		times[0].toFixed(3), (peak / 1048576).toFixed(1));
}

main().catch((e) => { console.error(e); process.exit(1); });
