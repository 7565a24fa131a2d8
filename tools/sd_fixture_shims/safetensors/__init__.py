# Minimal safetensors for tools/make_sd_fixtures.py (Debian has no python3-safetensors):
# header JSON + raw little-endian bytes, written and read with torch. See torch.py.
__version__ = "0.3.1"


class SafetensorError(Exception):
    pass
