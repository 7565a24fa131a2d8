# safetensors.torch stand-in: save_file / load_file for F32, F16, BF16 (and I64) tensors.
# Format: u64 little-endian header length, JSON header {name: {dtype, shape, data_offsets}},
# padded with spaces to 8 bytes, then the tensors' bytes back to back.
import json
import struct

import torch

_DT = {torch.float32: ("F32", 4), torch.float16: ("F16", 2), torch.bfloat16: ("BF16", 2), torch.int64: ("I64", 8)}
_RDT = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}


def _raw(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def save_file(tensors, filename, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        if t.dtype not in _DT:
            raise ValueError(f"{name}: unsupported dtype {t.dtype}")
        b = _raw(t)
        header[name] = {"dtype": _DT[t.dtype][0], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(filename, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_file(filename, device="cpu"):
    with open(filename, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        dt = _RDT[e["dtype"]]
        buf = bytearray(data[base + b:base + end])
        if dt == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16) if buf else torch.empty(0, dtype=dt)
        else:
            t = torch.frombuffer(buf, dtype=dt) if buf else torch.empty(0, dtype=dt)
        out[name] = t.reshape(e["shape"]).clone()
    return out


def save(tensors, metadata=None):
    import os
    import tempfile
    fd, p = tempfile.mkstemp()
    os.close(fd)
    try:
        save_file(tensors, p, metadata)
        with open(p, "rb") as f:
            return f.read()
    finally:
        os.remove(p)
