# Placeholders for huggingface_hub.utils (see __init__.py).
def is_jinja_available():
    return False


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return type(name, (Exception,), {})
