"""Read the data of a CIFAR "python version" batch without unpickling it.

CIFAR-10/100's python batches are pickles: a dict of byte strings, lists of ints and one uint8 numpy array.
``pickle.load`` would run whatever a file names (any callable, with any arguments), so gmgan never calls it
on a user's file. This is a small interpreter for the opcodes such files use (walked with
:func:`pickletools.genops`, which only decodes); it builds dicts, lists, tuples, strings, numbers and numpy
arrays, and refuses every other global, so a crafted file raises :class:`DataError` instead of running code.

The numpy array arrives as ``numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')`` followed by BUILD
with (version, shape, dtype, fortran_order, raw bytes), the dtype as ``numpy.dtype('u1', 0, 1)`` + BUILD;
Python 3's protocol 2 also wraps bytes as ``_codecs.encode(text, 'latin1')``, and protocol 5 writes arrays as
``numpy._core.numeric._frombuffer(bytes, dtype, shape, order)``. Those globals are the only ones accepted,
and none is called: each becomes an inert marker interpreted here.
"""

from __future__ import annotations

import codecs
import pickletools
from pathlib import Path
from typing import Any

import numpy as np

from gmgan.errors import DataError

_RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}
_NDARRAY = {("numpy", "ndarray")}
_DTYPE = {("numpy", "dtype")}
_ENCODE = {("_codecs", "encode")}
_FROMBUFFER = {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}  # protocol 5
_ALLOWED = _RECONSTRUCT | _NDARRAY | _DTYPE | _ENCODE | _FROMBUFFER


class _Global:
    def __init__(self, module: str, name: str) -> None:
        self.key = (module, name)


class _Array:
    """An array under construction: _reconstruct(...) then BUILD(state)."""

    value: np.ndarray | None = None


class _Dtype:
    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.byteorder = "|"


_MARK = object()


def _reduce(func: Any, args: tuple) -> Any:
    if not isinstance(func, _Global):
        raise DataError("REDUCE on something that is not an allowed global.")
    if func.key in _RECONSTRUCT:
        return _Array()
    if func.key in _DTYPE:
        return _Dtype(str(args[0]))
    if func.key in _ENCODE:
        text, encoding = args
        if encoding not in ("latin1", "latin-1"):
            raise DataError(f"unexpected text encoding {encoding!r}.")
        return codecs.encode(text, "latin1")
    if func.key in _FROMBUFFER:
        buf, dtype, shape, order = args
        if not isinstance(dtype, _Dtype) or not isinstance(buf, bytes | bytearray):
            raise DataError("an array buffer of the wrong form.")
        arr = _Array()
        return _build(arr, (1, shape, dtype, order == "F", bytes(buf)))
    raise DataError(f"the global {func.key} may not be called.")


def _build(obj: Any, state: Any) -> Any:
    if isinstance(obj, _Dtype):
        if isinstance(state, tuple) and len(state) > 1 and isinstance(state[1], str | bytes):
            order = state[1].decode() if isinstance(state[1], bytes) else state[1]
            obj.byteorder = order
        return obj
    if isinstance(obj, _Array):
        try:
            _, shape, dtype, fortran, raw = state
        except (TypeError, ValueError) as exc:
            raise DataError(f"an array's state has the wrong form ({exc}).") from exc
        if not isinstance(dtype, _Dtype):
            raise DataError("an array's dtype is not a numpy dtype.")
        if isinstance(raw, str):  # Python 2 str: the bytes, one character each
            raw = raw.encode("latin1")
        spec = dtype.spec.decode() if isinstance(dtype.spec, bytes) else dtype.spec
        order = "" if dtype.byteorder in ("|", "=") else dtype.byteorder
        dt = np.dtype(order + spec)
        count = int(np.prod(shape)) if shape else 1
        if len(raw) != count * dt.itemsize:
            raise DataError(f"an array of shape {tuple(shape)} needs {count * dt.itemsize} bytes; "
                            f"the file holds {len(raw)} (truncated or corrupt).")
        obj.value = np.frombuffer(raw, dtype=dt).reshape(shape, order="F" if fortran else "C")
        return obj
    raise DataError(f"BUILD on an unsupported object ({type(obj).__name__}).")


def _finish(obj: Any) -> Any:
    """Markers -> values, recursively."""
    if isinstance(obj, _Array):
        if obj.value is None:
            raise DataError("an array was never filled in.")
        return obj.value
    if isinstance(obj, dict):
        return {_finish(k): _finish(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finish(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_finish(v) for v in obj)
    if isinstance(obj, _Global | _Dtype):
        raise DataError("a bare global object in the data.")
    return obj


def load(path: str | Path) -> Any:
    """The data structure of a CIFAR-style pickle, built without executing anything."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc}).") from exc
    try:
        return _finish(_run(data))
    except DataError as exc:
        raise DataError(f"{path} is not a CIFAR python batch gmgan can read safely: {exc} Re-download the "
                        "dataset, or use its binary version.") from exc
    except (ValueError, IndexError, KeyError, TypeError, EOFError) as exc:
        raise DataError(f"{path} is truncated or corrupt ({type(exc).__name__}: {exc}). Re-download it.") from exc


def _run(data: bytes) -> Any:
    stack: list[Any] = []
    memo: dict[int, Any] = {}

    def pop_mark() -> list[Any]:
        i = len(stack) - 1
        while stack[i] is not _MARK:
            i -= 1
        items = stack[i + 1 :]
        del stack[i:]
        return items

    for op, arg, _ in pickletools.genops(data):
        name = op.name
        if name in ("PROTO", "FRAME"):
            continue
        if name == "STOP":
            if len(stack) != 1:
                raise DataError("the stack does not end with one object.")
            return stack[0]
        if name == "MARK":
            stack.append(_MARK)
        elif name == "EMPTY_DICT":
            stack.append({})
        elif name == "EMPTY_LIST":
            stack.append([])
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name in ("BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE", "BINSTRING",
                      "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "BININT", "BININT1",
                      "BININT2", "LONG1", "LONG4", "BINFLOAT", "INT", "LONG", "STRING"):
            stack.append(arg)
        elif name == "NONE":
            stack.append(None)
        elif name in ("NEWTRUE", "NEWFALSE"):
            stack.append(name == "NEWTRUE")
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[int(arg)] = stack[-1]  # type: ignore[arg-type]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            stack.append(memo[int(arg)])  # type: ignore[arg-type]
        elif name == "TUPLE":
            stack.append(tuple(pop_mark()))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            stack.append(tuple(stack[-n:]))
            del stack[-n - 1 : -1]
        elif name == "LIST":
            stack.append(pop_mark())
        elif name == "DICT":
            items = pop_mark()
            stack.append(dict(zip(items[::2], items[1::2], strict=True)))
        elif name == "APPEND":
            value = stack.pop()
            stack[-1].append(value)
        elif name == "APPENDS":
            items = pop_mark()
            stack[-1].extend(items)
        elif name == "SETITEM":
            value, key = stack.pop(), stack.pop()
            stack[-1][key] = value
        elif name == "SETITEMS":
            items = pop_mark()
            target = stack[-1]
            for k, v in zip(items[::2], items[1::2], strict=True):
                target[k] = v
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            if name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
            else:
                attr, module = stack.pop(), stack.pop()
            if (module, attr) not in _ALLOWED:
                raise DataError(f"it names the global {module}.{attr}, which a data file has no reason to; "
                                "it was not run.")
            stack.append(_Global(module, attr))
        elif name == "REDUCE":
            args = stack.pop()
            func = stack.pop()
            stack.append(_reduce(func, args))
        elif name == "BUILD":
            state = stack.pop()
            stack[-1] = _build(stack[-1], state)
        else:
            raise DataError(f"it uses the pickle opcode {name}, which CIFAR batches do not; it was not run.")
    raise DataError("it ends without a STOP opcode.")
