# Offline constants for the huggingface_hub stand-in (see __init__.py).
import os

hf_cache_home = os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
HUGGINGFACE_HUB_CACHE = os.path.join(hf_cache_home, "hub")
HF_HUB_OFFLINE = True
