// face-api's three networks as ONNX models, built in memory from the weights its package ships, for
// onnxruntime-node. Nothing is written to disk and nothing is downloaded: the weights manifests and .bin files
// of @vladmandic/face-api/model are read (uint8-quantized values expanded as TensorFlow.js expands them), and
// the graphs repeat face-api's own layer definitions (ssdMobilenetv1/, faceFeatureExtractor/,
// faceLandmarkNet/, faceRecognitionNet/ in its sources) with ONNX operators, in NCHW. Batch norms and the
// ResNet's scale layers are folded into the convolutions before them. The protobuf encoding is onnx-proto's
// (the ONNX project's onnx.proto compiled by protobufjs).
//
// Every model takes NHWC float32 pixels in 0..255, as the worker produces them:
//   detector    [1, 512, 512, 3] -> boxes [1, 5118, 4] (SSD box encodings), classes [1, 5118, 3] (logits)
//   landmarks   [N, 112, 112, 3] -> [N, 136] (x, y pairs as ratios of the 112-pixel square)
//   descriptor  [N, 150, 150, 3] -> [N, 128]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

const { onnx } = onnxProto;

export interface Weight { shape: number[]; data: Float32Array }

interface ManifestEntry { name: string; shape: number[]; dtype: string; quantization?: { dtype: string; scale: number; min: number } }

/** Reads a TensorFlow.js weights manifest and its binary files into float32 arrays, by name. */
export function readWeights(dir: string, model: string): Map<string, Weight> {
  const manifest = JSON.parse(readFileSync(join(dir, `${model}-weights_manifest.json`), 'utf8')) as Array<{ paths: string[]; weights: ManifestEntry[] }>;
  const out = new Map<string, Weight>();
  for (const group of manifest) {
    const bytes = Buffer.concat(group.paths.map((p) => readFileSync(join(dir, p))));
    let offset = 0;
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      let data: Float32Array;
      if (q) {
        if (q.dtype !== 'uint8') throw new Error(`${model}: ${w.name} is quantized as ${q.dtype}, which this reader does not expand`);
        data = new Float32Array(n);
        for (let i = 0; i < n; i++) data[i] = bytes[offset + i]! * q.scale + q.min;
        offset += n;
      } else if (w.dtype === 'float32') {
        data = new Float32Array(n);
        for (let i = 0; i < n; i++) data[i] = bytes.readFloatLE(offset + 4 * i);
        offset += 4 * n;
      } else {
        offset += 4 * n;
        continue;
      }
      out.set(w.name, { shape: w.shape, data });
    }
    if (offset !== bytes.length) throw new Error(`${model}: the manifest describes ${offset} bytes, the files hold ${bytes.length}`);
  }
  return out;
}

type Attr = { name: string; type: number; i?: number; f?: number; ints?: number[]; s?: Uint8Array };
const A = onnx.AttributeProto.AttributeType;
const ints = (name: string, v: number[]): Attr => ({ name, type: A.INTS, ints: v });
const int = (name: string, v: number): Attr => ({ name, type: A.INT, i: v });
const str = (name: string, v: string): Attr => ({ name, type: A.STRING, s: new TextEncoder().encode(v) });

/** A small graph builder: nodes in order, float initializers, NCHW convolutions with TensorFlow's padding rules. */
class Graph {
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly inits: OnnxTypes.ITensorProto[] = [];
  private n = 0;

  constructor(private readonly weights: Map<string, Weight>) {}

  w(name: string): Weight {
    const w = this.weights.get(name);
    if (!w) throw new Error(`weight ${name} is missing`);
    return w;
  }

  const(data: Float32Array | number[], dims: number[], name = `c${this.n++}`): string {
    const f = data instanceof Float32Array ? data : Float32Array.from(data);
    this.inits.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength)) });
    return name;
  }

  constI64(values: number[]): string {
    const name = `i${this.n++}`;
    const b = new BigInt64Array(values.map((v) => BigInt(v)));
    this.inits.push({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(b.buffer) });
    return name;
  }

  op(type: string, inputs: string[], attrs: Attr[] = [], outputs = 1): string {
    const names = Array.from({ length: outputs }, () => `t${this.n++}`);
    this.nodes.push({ opType: type, input: inputs, output: names, attribute: attrs, name: `${type}_${this.n}` });
    return names[0]!;
  }

  /**
   * A convolution from TensorFlow weights ([kh, kw, in, out], or [kh, kw, C, 1] when depthwise) with an optional
   * per-output-channel scale and bias folded in: y = conv(x) * scale + bias.
   */
  conv(x: string, filter: Weight, opts: { stride: number; padding: 'same' | 'valid'; depthwise?: boolean; scale?: Float32Array; bias?: Float32Array }): string {
    const [kh, kw, cin, cm] = filter.shape as [number, number, number, number];
    const depthwise = opts.depthwise === true;
    const cout = depthwise ? cin : cm;
    const inPer = depthwise ? 1 : cin;
    const w = new Float32Array(cout * inPer * kh * kw);
    for (let y = 0; y < kh; y++) {
      for (let x0 = 0; x0 < kw; x0++) {
        for (let i = 0; i < cin; i++) {
          for (let o = 0; o < cm; o++) {
            const v = filter.data[((y * kw + x0) * cin + i) * cm + o]!;
            const oc = depthwise ? i : o;
            const ic = depthwise ? 0 : i;
            w[((oc * inPer + ic) * kh + y) * kw + x0] = v * (opts.scale ? opts.scale[oc]! : 1);
          }
        }
      }
    }
    const inputs = [x, this.const(w, [cout, inPer, kh, kw])];
    if (opts.bias) inputs.push(this.const(opts.bias, [cout]));
    const attrs = [ints('kernel_shape', [kh, kw]), ints('strides', [opts.stride, opts.stride]), str('auto_pad', opts.padding === 'same' ? 'SAME_UPPER' : 'VALID')];
    if (depthwise) attrs.push(int('group', cin));
    return this.op('Conv', inputs, attrs);
  }

  clip6(x: string): string {
    return this.op('Clip', [x, this.const([0], [], `zero${this.n++}`), this.const([6], [], `six${this.n++}`)]);
  }

  relu(x: string): string {
    return this.op('Relu', [x]);
  }

  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }

  /** NHWC 0..255 input to NCHW, (x - mean) * factor per channel. */
  input(name: string, mean: [number, number, number], factor: number): string {
    const t = this.op('Transpose', [name], [ints('perm', [0, 3, 1, 2])]);
    const m = this.op('Sub', [t, this.const(mean, [1, 3, 1, 1])]);
    return this.op('Mul', [m, this.const([factor], [])]);
  }

  model(inputs: Array<[string, Array<number | string>]>, outputs: Array<[string, string, Array<number | string>]>): Uint8Array {
    const valueInfo = (name: string, dims: Array<number | string>): OnnxTypes.IValueInfoProto => ({
      name,
      type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
    });
    for (const [from, to] of outputs) this.nodes.push({ opType: 'Identity', input: [from], output: [to], name: `out_${to}` });
    const model = onnx.ModelProto.create({
      irVersion: 7,
      opsetImport: [{ domain: '', version: 13 }],
      producerName: 'trent',
      graph: {
        name: 'faces',
        node: this.nodes,
        initializer: this.inits,
        input: inputs.map(([n, d]) => valueInfo(n, d)),
        output: outputs.map(([, n, d]) => valueInfo(n, d)),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

const BN_EPSILON = 0.0010000000474974513;
const MEAN_RGB: [number, number, number] = [122.782, 117.001, 104.298];

/** face-api's SSD MobileNet v1: the MobileNet, the extra feature layers and the six box predictors. */
export function detectorModel(dir: string): { model: Uint8Array; anchors: Float32Array } {
  const W = readWeights(dir, 'ssd_mobilenetv1_model');
  const g = new Graph(W);
  // x / 127.5 - 1 = (x - 127.5) / 127.5
  let x = g.input('image', [127.5, 127.5, 127.5], 1 / 127.5);
  const pointwise = (input: string, prefix: string, stride: number) => g.clip6(g.conv(input, g.w(`${prefix}/weights`), { stride, padding: 'same', bias: g.w(`${prefix}/convolution_bn_offset`).data }));
  x = pointwise(x, 'MobilenetV1/Conv2d_0_pointwise', 2);
  let conv11 = '';
  for (let i = 1; i <= 13; i++) {
    const p = `MobilenetV1/Conv2d_${i}_depthwise`;
    const gamma = g.w(`${p}/BatchNorm/gamma`).data;
    const beta = g.w(`${p}/BatchNorm/beta`).data;
    const mean = g.w(`${p}/BatchNorm/moving_mean`).data;
    const variance = g.w(`${p}/BatchNorm/moving_variance`).data;
    const scale = gamma.map((v, c) => v / Math.sqrt(variance[c]! + BN_EPSILON));
    const bias = beta.map((v, c) => v - mean[c]! * scale[c]!);
    x = g.clip6(g.conv(x, g.w(`${p}/depthwise_weights`), { stride: [2, 4, 6, 12].includes(i) ? 2 : 1, padding: 'same', depthwise: true, scale, bias }));
    x = pointwise(x, `MobilenetV1/Conv2d_${i}_pointwise`, 1);
    if (i === 11) conv11 = x;
  }
  const c: string[] = [];
  let y = x;
  for (let i = 0; i < 8; i++) {
    y = pointwise(y, `Prediction/Conv2d_${i}_pointwise`, i % 2 === 1 ? 2 : 1);
    c.push(y);
  }
  const sources = [conv11, x, c[1]!, c[3]!, c[5]!, c[7]!];
  const boxes: string[] = [];
  const classes: string[] = [];
  for (const [k, s] of sources.entries()) {
    const head = (kind: string, width: number) => {
      const p = `Prediction/BoxPredictor_${k}/${kind}`;
      const out = g.conv(s, g.w(`${p}/weights`), { stride: 1, padding: 'same', bias: g.w(`${p}/biases`).data });
      const nhwc = g.op('Transpose', [out], [ints('perm', [0, 2, 3, 1])]);
      return g.op('Reshape', [nhwc, g.constI64([1, -1, width])]);
    };
    boxes.push(head('BoxEncodingPredictor', 4));
    classes.push(head('ClassPredictor', 3));
  }
  const b = g.op('Concat', boxes, [int('axis', 1)]);
  const k = g.op('Concat', classes, [int('axis', 1)]);
  const anchors = g.w('Output/extra_dim');
  return { model: g.model([['image', [1, 512, 512, 3]]], [[b, 'boxes', [1, 5118, 4]], [k, 'classes', [1, 5118, 3]]]), anchors: anchors.data };
}

/** face-api's 68-point landmark net: four dense blocks of separable convolutions, average pooling, a dense layer. */
export function landmarkModel(dir: string): Uint8Array {
  const W = readWeights(dir, 'face_landmark_68_model');
  const g = new Graph(W);
  let x = g.input('face', MEAN_RGB, 1 / 255);
  const separable = (input: string, p: string, stride: number) => {
    const d = g.conv(input, g.w(`${p}/depthwise_filter`), { stride, padding: 'same', depthwise: true });
    return g.conv(d, g.w(`${p}/pointwise_filter`), { stride: 1, padding: 'same', bias: g.w(`${p}/bias`).data });
  };
  for (let block = 0; block < 4; block++) {
    const p = `dense${block}`;
    const out1 = g.relu(block === 0 ? g.conv(x, g.w(`${p}/conv0/filters`), { stride: 2, padding: 'same', bias: g.w(`${p}/conv0/bias`).data }) : separable(x, `${p}/conv0`, 2));
    const out2 = separable(out1, `${p}/conv1`, 1);
    const in3 = g.relu(g.add(out1, out2));
    const out3 = separable(in3, `${p}/conv2`, 1);
    const in4 = g.relu(g.add(out1, g.add(out2, out3)));
    const out4 = separable(in4, `${p}/conv3`, 1);
    x = g.relu(g.add(out1, g.add(out2, g.add(out3, out4))));
  }
  x = g.op('AveragePool', [x], [ints('kernel_shape', [7, 7]), ints('strides', [2, 2])]);
  x = g.op('Flatten', [x], [int('axis', 1)]);
  const fc = g.w('fc/weights');
  x = g.op('Add', [g.op('MatMul', [x, g.const(fc.data, fc.shape)]), g.const(g.w('fc/bias').data, [136])]);
  return g.model([['face', ['n', 112, 112, 3]]], [[x, 'landmarks', ['n', 136]]]);
}

/** face-api's ResNet-34-like descriptor net (dlib's face recognition model). */
export function descriptorModel(dir: string): Uint8Array {
  const W = readWeights(dir, 'face_recognition_model');
  const g = new Graph(W);
  let x = g.input('face', MEAN_RGB, 1 / 255);
  const conv = (input: string, p: string, stride: number, padding: 'same' | 'valid', relu: boolean) => {
    const scale = g.w(`${p}/scale/weights`).data;
    const bias = g.w(`${p}/conv/bias`).data.map((b, c) => b * scale[c]! + g.w(`${p}/scale/biases`).data[c]!);
    const out = g.conv(input, g.w(`${p}/conv/filters`), { stride, padding, scale, bias });
    return relu ? g.relu(out) : out;
  };
  const residual = (input: string, p: string) => g.relu(g.add(conv(conv(input, `${p}/conv1`, 1, 'same', true), `${p}/conv2`, 1, 'same', false), input));
  // Spatial sizes through the net for a 150x150 input, and channel counts, to pad as face-api does.
  const residualDown = (input: string, p: string, size: number, cin: number, cout: number) => {
    let out = conv(conv(input, `${p}/conv1`, 2, 'valid', true), `${p}/conv2`, 1, 'same', false);
    const convSize = Math.floor((size - 3) / 2) + 1;
    const poolSize = Math.floor(size / 2);
    let pooled = g.op('AveragePool', [input], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]);
    if (convSize !== poolSize) out = g.op('Pad', [out, g.constI64([0, 0, 0, 0, 0, 0, poolSize - convSize, poolSize - convSize])]);
    if (cin !== cout) pooled = g.op('Pad', [pooled, g.constI64([0, 0, 0, 0, 0, cout - cin, 0, 0])]);
    return { out: g.relu(g.add(pooled, out)), size: poolSize };
  };
  x = conv(x, 'conv32_down', 2, 'valid', true); // 72
  x = g.op('MaxPool', [x], [ints('kernel_shape', [3, 3]), ints('strides', [2, 2])]); // 35
  let size = 35;
  for (const p of ['conv32_1', 'conv32_2', 'conv32_3']) x = residual(x, p);
  const stages: Array<[string, number, number, string[]]> = [
    ['conv64_down', 32, 64, ['conv64_1', 'conv64_2', 'conv64_3']],
    ['conv128_down', 64, 128, ['conv128_1', 'conv128_2']],
    ['conv256_down', 128, 256, ['conv256_1', 'conv256_2']],
    ['conv256_down_out', 256, 256, []],
  ];
  for (const [down, cin, cout, rest] of stages) {
    const r = residualDown(x, down, size, cin, cout);
    x = r.out;
    size = r.size;
    for (const p of rest) x = residual(x, p);
  }
  x = g.op('ReduceMean', [x], [ints('axes', [2, 3]), int('keepdims', 0)]);
  const fc = g.w('fc');
  x = g.op('MatMul', [x, g.const(fc.data, fc.shape)]);
  return g.model([['face', ['n', 150, 150, 3]]], [[x, 'descriptor', ['n', 128]]]);
}
