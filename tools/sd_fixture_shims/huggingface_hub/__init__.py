# Tiny stand-in for huggingface_hub, only so that diffusers can be imported offline by
# tools/make_sd_fixtures.py (Debian has no huggingface_hub). Nothing here downloads anything:
# every name diffusers imports resolves to a placeholder class that is never called for local work.
__version__ = "0.17.0"


def _placeholder(name):
    return type(name, (Exception,), {})


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _placeholder(name)
