// check_export_ort.js: a model cnnf exported to ONNX gives ONNX Runtime's outputs in cnnf.
//
//   NODE_PATH=/tmp/ort/node_modules node tools/check_export_ort.js CNNF MODEL.onnx [N]
//
// Makes N (default 8) random patches of the model's input size (samples 0..1,
// the scale cnnf feeds a graph), runs each through ONNX Runtime and through
// `CNNF apply -m MODEL.onnx patch.npy out.npy`, and prints the largest
// absolute difference; exits 1 when it is above 1e-5 (the bound) or a
// run fails. An independent check of cnnf's ONNX writer (src/nn/onnx_save.c):
// not needed to build or test cnnf.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const {spawnSync} = require('child_process');
const ort = require('onnxruntime-node');

function writeNpy(file, shape, data) {
	let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
		shape.join(', ') + (shape.length === 1 ? ',' : '') + '), }';
	while ((10 + header.length + 1) % 64) header += ' ';
	header += '\n';
	const h = Buffer.alloc(10);
	h.write('\x93NUMPY', 0, 'latin1');
	h[6] = 1; h[7] = 0;
	h.writeUInt16LE(header.length, 8);
	fs.writeFileSync(file, Buffer.concat([h, Buffer.from(header, 'latin1'),
		Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

function readNpy(file) {
	const b = fs.readFileSync(file);
	const hlen = b.readUInt16LE(8);
	const off = 10 + hlen;
	return new Float32Array(b.buffer.slice(b.byteOffset + off, b.byteOffset + b.length));
}

async function main() {
	const [cnnf, model, count] = process.argv.slice(2);
	const n = Number(count || 8);
	const session = await ort.InferenceSession.create(model);
	// The declared input shape, as cnnf writes it and cnnf info shows it: ? x C x H x W.
	const info = spawnSync(cnnf, ['info', model], {encoding: 'utf8'}).stdout;
	const m = info.match(/'input': \?x(\d+)x(\d+)x(\d+)/);
	if (!m) throw new Error('cannot read the input shape from: ' + info);
	const [c, h, w] = m.slice(1).map(Number);
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'export-ort-'));
	let seed = 12345, worst = 0;
	const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
	for (let k = 0; k < n; k++) {
		const x = new Float32Array(c * h * w).map(rand);
		// cnnf's .npy images are (H, W, C); ONNX wants C x H x W.
		const hwc = new Float32Array(c * h * w);
		for (let ch = 0; ch < c; ch++)
			for (let i = 0; i < h * w; i++) hwc[i * c + ch] = x[ch * h * w + i];
		const inFile = path.join(dir, 'in.npy'), outFile = path.join(dir, 'out.npy');
		writeNpy(inFile, c === 1 ? [h, w] : [h, w, c], hwc);
		const r = spawnSync(cnnf, ['apply', '-m', model, inFile, outFile], {encoding: 'utf8'});
		if (r.status !== 0) throw new Error('cnnf apply: ' + r.stderr);
		const got = readNpy(outFile);
		const res = await session.run({[session.inputNames[0]]: new ort.Tensor('float32', x, [1, c, h, w])});
		const want = res[session.outputNames[0]].data;
		if (want.length !== got.length) throw new Error(`ORT gives ${want.length} values, cnnf ${got.length}`);
		for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i] - got[i]));
	}
	fs.rmSync(dir, {recursive: true});
	console.log(`${path.basename(model)}: ${n} patches, largest difference from ONNX Runtime ${worst.toExponential(2)}`);
	process.exit(worst <= 1e-5 ? 0 : 1);
}
main().catch((e) => { console.error('check_export_ort: ' + e.message); process.exit(1); });
