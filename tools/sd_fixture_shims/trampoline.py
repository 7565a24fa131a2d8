"""trampoline — stand-in for the PyPI package `trampoline` (not in Debian), which torchsde's
BrownianInterval uses to run deep recursion without Python's stack: a function written as a
generator `yield`s a sub-call (a generator) and gets its return value back, or raises
TailCall(gen) to be replaced by gen. trampoline(gen) runs that on an explicit stack and returns
the outermost return value. Written here from that contract."""


class TailCall(Exception):
    def __init__(self, call):
        super().__init__()
        self.call = call


def trampoline(gen):
    stack = [gen]
    value = None
    while stack:
        try:
            sub = stack[-1].send(value)
        except StopIteration as stop:
            stack.pop()
            value = stop.value
            continue
        except TailCall as tail:
            stack.pop()
            stack.append(tail.call)
            value = None
            continue
        stack.append(sub)
        value = None
    return value
