#!/usr/bin/env python3
"""make_fuzz_seeds.py — writes the small seed inputs of the libFuzzer targets into
tests/fuzz/corpus/<target>/ (run from the repository root; Debian's python3 with PIL).
Each seed is a valid, tiny example of what the target parses, so the fuzzer starts from the
format's real structure. Deterministic: running it again rewrites the same bytes."""
import io, json, os, struct

from PIL import Image

ROOT = os.path.join('tests', 'fuzz', 'corpus')


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def image_bytes(fmt, mode, **kw):
    im = Image.new(mode, (8, 6))
    im.putdata([tuple((x * 31 + y * 17 + c * 5) % 256 for c in range(len(mode))) if len(mode) > 1
                else (x * 31 + y * 17) % 256 for y in range(6) for x in range(8)])
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


# images: PNG (RGB, RGBA, gray, palette), JPEG (with an EXIF orientation), WebP
put('fuzz_image', 'rgb.png', image_bytes('PNG', 'RGB'))
put('fuzz_image', 'rgba.png', image_bytes('PNG', 'RGBA'))
put('fuzz_image', 'gray.png', image_bytes('PNG', 'L'))
pal = io.BytesIO()
Image.open(io.BytesIO(image_bytes('PNG', 'RGB'))).convert('P').save(pal, 'PNG')
put('fuzz_image', 'pal.png', pal.getvalue())
exif = Image.Exif()
exif[0x0112] = 6
put('fuzz_image', 'rot.jpg', image_bytes('JPEG', 'RGB', quality=80, exif=exif.tobytes()))
put('fuzz_image', 'plain.jpg', image_bytes('JPEG', 'L', quality=50))
put('fuzz_image', 'lossy.webp', image_bytes('WEBP', 'RGB', quality=60))
put('fuzz_image', 'alpha.webp', image_bytes('WEBP', 'RGBA', lossless=True))


# safetensors: F32, F16, BF16, I64 tensors and metadata
def safetensors(tensors, meta=None):
    header, blob = {}, b''
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [len(blob), len(blob) + len(data)]}
        blob += data
    if meta:
        header['__metadata__'] = meta
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    return struct.pack('<Q', len(h)) + h + blob


put('fuzz_safetensors', 'mixed.safetensors', safetensors({
    'a.weight': ('F32', [2, 3], struct.pack('<6f', 1, -2, 3.5, 0, 1e-3, 7)),
    'b.bias': ('F16', [4], struct.pack('<4e', 1, -1, 0.5, 2)),
    'c': ('BF16', [2], b'\x80\x3f\x00\x40'),
    'n': ('I64', [1], struct.pack('<q', 42)),
}, {'format': 'pt', 'ss_network_dim': '4'}))
put('fuzz_safetensors', 'scalar.safetensors', safetensors({'s': ('F32', [], struct.pack('<f', 1.0))}))

# OpenPose JSON (18 body points x 3)
kps = []
for i in range(18):
    kps += [100 + 10 * i, 200 - 5 * i, 0.9 if i % 5 else 0]
put('fuzz_openpose', 'one.json', json.dumps({'canvas_width': 512, 'canvas_height': 768, 'people': [
    {'pose_keypoints_2d': kps, 'face_keypoints_2d': [], 'hand_left_keypoints_2d': [],
     'hand_right_keypoints_2d': []}]}))
put('fuzz_openpose', 'two.json', json.dumps({'people': [{'pose_keypoints_2d': kps}, {'pose_keypoints_2d': kps[::-1]}]}))
put('fuzz_openpose', 'empty.json', '{"people":[]}')

# TFJS manifest: a two-node graph and a weights manifest
put('fuzz_tfjs', 'model.json', json.dumps({
    'format': 'graph-model', 'generatedBy': '2.x', 'convertedBy': 'TensorFlow.js Converter v1',
    'modelTopology': {'node': [
        {'name': 'input', 'op': 'Placeholder', 'attr': {'dtype': {'type': 'DT_FLOAT'},
                                                        'shape': {'shape': {'dim': [{'size': '1'}, {'size': '8'}]}}}},
        {'name': 'conv', 'op': 'Conv2D', 'input': ['input', 'w'],
         'attr': {'strides': {'list': {'i': ['1', '1', '1', '1']}}, 'padding': {'s': 'U0FNRQ=='},
                  'data_format': {'s': 'TkhXQw=='}, 'use_cudnn_on_gpu': {'b': True}, 'epsilon': {'f': 0.001}}},
    ], 'versions': {'producer': 1}},
    'weightsManifest': [{'paths': ['group1-shard1of1.bin'], 'weights': [
        {'name': 'w', 'shape': [1, 1, 8, 4], 'dtype': 'float32'},
        {'name': 'q', 'shape': [4], 'dtype': 'float32', 'quantization': {'dtype': 'uint8', 'scale': 0.1, 'min': -1}}]}],
}))

# multipart: first line the Content-Type value, then the body
put('fuzz_multipart', 'upload.txt',
    'multipart/form-data; boundary=XyZ\n'
    '--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
    '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a b.png"\r\nContent-Type: image/png\r\n\r\n'
    '\x89PNG\r\n\x1a\n--XyZ-not-a-boundary\r\n\r\n--XyZ--\r\n')
put('fuzz_multipart', 'quoted.txt',
    'multipart/form-data; charset=utf-8; boundary="----WebKitFormBoundary7MA4YWxk"\n'
    '------WebKitFormBoundary7MA4YWxk\r\nContent-Disposition: form-data; name=file; filename=x.jpg\r\n\r\n'
    'data\r\n------WebKitFormBoundary7MA4YWxk--')

# request paths, as sent
for i, p in enumerate(['/api/jobs/%00/outputs/image.png', '/api/webtoons/abc%00/samples/def',
                       '/api%2Fme', '/%61pi/health?x=%00', '/api/jobs/0123abcd/outputs/image-1.png',
                       '/assets/%2e%2e/%2e%2e/oma.db', '/a%', '/\xc3\x9cN\xc3\x8f@EX\xc3\x84MPLE.COM',
                       '/api/webtoons/0a1b/samples/2c3d']):
    put('fuzz_http_path', f'path{i}.txt', p.encode('latin-1') if isinstance(p, str) else p)
# PSD writer inputs: size, channels, layer count, name length, name, pixels (see fuzz_psd.c)
put('fuzz_psd', 'two_layers.bin', bytes([15, 9, 1, 2, 5]) + b'Inks\xc3' + bytes(range(256)))
put('fuzz_psd', 'bad_layer.bin', bytes([7, 7, 0, 3, 0]) + bytes([0xAB]) + b'\x00' * 40 + b'\xff' * 40)
print('seeds written under', ROOT)


# torch.save archives (fuzz_torch_pth): a state_dict as Moore-AnimateAnyone saves its .pth
# (OrderedDict + _metadata BUILD, float32), a half tensor, and an int64 buffer (CLIP's
# position_ids). Needs Debian's python3-torch; skipped without it.
try:
    import collections
    import torch
except ImportError:
    torch = None
if torch is not None:
    def pth(obj):
        b = io.BytesIO()
        torch.save(obj, b)
        return b.getvalue()
    torch.manual_seed(0)
    sd = torch.nn.Conv2d(2, 3, 3).state_dict()
    put('fuzz_torch_pth', 'state_dict.pth', pth(sd))
    put('fuzz_torch_pth', 'mixed.pth', pth(collections.OrderedDict(
        [('h', torch.arange(6, dtype=torch.float16).reshape(2, 3)),
         ('position_ids', torch.arange(5).unsqueeze(0)), ('v', torch.arange(12.0)[2:8:2])])))
