// check_onnx_fixtures_ort.js: runs every tests/data/onnx/*.onnx in ONNX Runtime and compares with <name>.out.npy.
//
// An independent check that the exported files compute PyTorch's reference
// (not needed to build or test cnnf). Needs onnxruntime-node somewhere node
// finds it, e.g.:
//   mkdir -p /tmp/ort && (cd /tmp/ort && npm install onnxruntime-node --ignore-scripts)
//   NODE_PATH=/tmp/ort/node_modules node tools/check_onnx_fixtures_ort.js [DIR]
// Prints one line per file with the largest absolute and relative (to the
// reference's largest magnitude) difference; exits 1 if one exceeds 1e-5 relative.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

// A little-endian float32 C-order .npy file as {shape, data}.
function readNpy(file) {
	const b = fs.readFileSync(file);
	if (b.toString('latin1', 0, 6) !== '\x93NUMPY')
		throw new Error(file + ': not a .npy file');
	const major = b[6];
	const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
	const start = major === 1 ? 10 : 12;
	const header = b.toString('latin1', start, start + hlen);
	if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header))
		throw new Error(file + ': not little-endian float32 in C order: ' + header);
	const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',')
		.map((s) => s.trim()).filter((s) => s.length).map(Number);
	const off = start + hlen;
	const n = shape.reduce((a, c) => a * c, 1);
	const data = new Float32Array(b.buffer.slice(b.byteOffset + off, b.byteOffset + off + 4 * n));
	return {shape, data};
}

async function main() {
	const dir = process.argv[2] || 'tests/data/onnx';
	const files = fs.readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort();
	let bad = 0;
	for (const f of files) {
		const name = f.replace(/-op\d+\.onnx$/, '');
		const x = readNpy(path.join(dir, name + '.in.npy'));
		const ref = readNpy(path.join(dir, name + '.out.npy'));
		const s = await ort.InferenceSession.create(path.join(dir, f),
			{intraOpNumThreads: 1, graphOptimizationLevel: 'disabled'});
		const out = await s.run({[s.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape)});
		const y = out[s.outputNames[0]];
		let maxd = 0, maxr = 0;
		for (let i = 0; i < ref.data.length; i++) {
			maxd = Math.max(maxd, Math.abs(y.data[i] - ref.data[i]));
			maxr = Math.max(maxr, Math.abs(ref.data[i]));
		}
		const same = y.dims.join('x') === ref.shape.join('x');
		const rel = maxd / maxr;
		const ok = same && rel <= 1e-5;
		if (!ok)
			bad++;
		console.log('%s %s out %s max abs diff %s rel %s', ok ? 'ok  ' : 'FAIL', f.padEnd(22),
			y.dims.join('x'), maxd.toExponential(2), rel.toExponential(2));
	}
	process.exit(bad ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(2); });
