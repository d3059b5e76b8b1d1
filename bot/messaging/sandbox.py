"""A Jinja sandbox with a budget: a brand's template cannot cost more than a message is worth.

Jinja's own sandbox stops a template reaching Python internals, but not from spending
seconds of CPU or gigabytes of memory in one expression (`name * 60000000`,
`'{0:>300000000}'.format(1)`, `2 ** 99999999`, `lipsum(12000)`, loops in loops,
macros calling themselves twice). `BoundedEnvironment` refuses each such operation
*before* it runs, from the sizes of its operands, and counts the work of a whole
render (operations, loop iterations, characters out) against one `Budget`, which
also holds the render to a CPU-time deadline (the thread's CPU clock, so a render in
a worker thread is not charged for the event loop's turns). Every single operation
is small, so the deadline is checked often enough to stop any template within a few
milliseconds of its budget. A broken limit raises `LimitExceeded`, naming the limit.

Constant folding is off (`optimized=False`) and intercepted operators are never
folded by Jinja, so a template's arithmetic is only ever done at render time, under
the budget, never while it compiles.
"""

from __future__ import annotations

import re
import time
import types
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import update_wrapper
from string import Formatter
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

MAX_STRING = 10_000  # characters (or items) in any one value a template builds
MAX_WIDTH = 500  # a format width or precision, a padded or centred width
MAX_DIGITS = 100  # decimal digits of an integer a template computes
MAX_RANGE = 1_000  # items in one range()
MAX_LIPSUM = 5  # paragraphs of lipsum()


@dataclass(frozen=True, slots=True)
class Limits:
    """What one render may spend."""

    cpu_s: float = 0.05
    operations: int = 50_000  # calls, attribute reads, operators, loop iterations
    iterations: int = 5_000  # loop iterations, all loops of the render together
    output: int = 10_000  # characters of output


class LimitExceeded(SecurityError):
    """A template went past a limit; the message names it."""


@dataclass
class Budget:
    """The work one render has done so far, against its `Limits`."""

    limits: Limits
    deadline: float = field(init=False)
    operations: int = 0
    iterations: int = 0

    def __post_init__(self) -> None:
        self.deadline = time.thread_time() + self.limits.cpu_s

    def spend(self, n: int = 1) -> None:
        self.operations += n
        if self.operations > self.limits.operations:
            raise LimitExceeded(f"more than {self.limits.operations} operations")
        if self.operations & 7 == 0 and time.thread_time() > self.deadline:
            raise LimitExceeded(f"more than {self.limits.cpu_s * 1000:.0f} ms of CPU")

    def iterate(self) -> None:
        self.iterations += 1
        if self.iterations > self.limits.iterations:
            raise LimitExceeded(f"more than {self.limits.iterations} loop iterations in all")
        self.spend()


_BUDGET: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def _spend(n: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.spend(n)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 0


def _string_cap(size: int, what: str) -> None:
    if size > MAX_STRING:
        raise LimitExceeded(f"{what} would make {size} characters (at most {MAX_STRING})")


def _width_cap(width: Any, what: str) -> None:
    if isinstance(width, int) and not -MAX_WIDTH <= width <= MAX_WIDTH:
        raise LimitExceeded(f"{what} width {width} (at most {MAX_WIDTH})")


def _bits_cap(bits: int, what: str) -> None:
    if bits > MAX_DIGITS * 3.33:
        raise LimitExceeded(f"{what} would make an integer over {MAX_DIGITS} digits")


_NUMBER = re.compile(r"\d+")


def check_format_spec(spec: str, what: str) -> None:
    """A `format()` spec, a `%` spec or a strftime pattern: no width or precision over
    MAX_WIDTH, none taken from an argument (`{0:{1}}`, `%*d`)."""
    if "{" in spec or "*" in spec:
        raise LimitExceeded(f"{what}: a width or precision taken from an argument")
    for number in _NUMBER.findall(spec):
        if len(number) > 4 or int(number) > MAX_WIDTH:
            raise LimitExceeded(f"{what}: width or precision {number} (at most {MAX_WIDTH})")


def check_format_string(source: str) -> None:
    """Every replacement field of a `str.format` string."""
    try:
        fields = list(Formatter().parse(source))
    except ValueError as exc:
        raise LimitExceeded(f"format string: {exc}") from None
    for _, _, spec, _ in fields:
        if spec:
            check_format_spec(spec, "format")


_PERCENT = re.compile(r"%(?:\([^)]*\))?([#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?)")


def check_percent(source: str) -> None:
    for spec in _PERCENT.findall(source):
        check_format_spec(spec, "%-format")


def _binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operator whose result would be too big, from its operands' sizes."""
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "*":
        if ints:
            _bits_cap(abs(left).bit_length() + abs(right).bit_length(), "*")
        for seq, times in ((left, right), (right, left)):
            if isinstance(times, int) and _size(seq):
                _string_cap(_size(seq) * max(times, 0), "repetition")
    elif operator == "**" and ints:
        if right > 0 and abs(left) > 1:
            _bits_cap(abs(left).bit_length() * right, "**")
    elif operator == "<<" and ints:
        _bits_cap(abs(left).bit_length() + max(right, 0), "<<")
    elif operator == "+" and _size(left) and _size(right):
        _string_cap(_size(left) + _size(right), "+")
    elif operator == "%" and isinstance(left, str):
        check_percent(left)


def _sized(name: str, method: Callable[..., Any], text: str) -> Callable[..., Any]:
    """A str method that takes a size, checked before it runs."""

    def checked(*args: Any, **kwargs: Any) -> Any:
        _spend()
        width = args[0] if args else kwargs.get("width", kwargs.get("tabsize", 0))
        if name == "expandtabs":
            _width_cap(width, name)
            _string_cap(len(text) + text.count("\t") * max(int(width or 8), 0), name)
        elif name == "replace" and len(args) >= 2:
            old, new = str(args[0]), str(args[1])
            count = text.count(old) if old else len(text) + 1
            _string_cap(len(text) + count * len(new), name)
        elif name == "strftime":
            check_format_spec(str(width), name)
        else:
            _width_cap(width, name)
        result = method(*args, **kwargs)
        if isinstance(result, str):
            _string_cap(len(result), name)
        return result

    return update_wrapper(checked, method)


SIZED_METHODS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "strftime"}
)


def _filter(name: str, check: Callable[..., None]) -> Callable[..., Any]:
    original = FILTERS[name]
    # A filter marked pass_context/pass_environment/... gets that object first.
    skip = 1 if getattr(original, "jinja_pass_arg", None) is not None else 0

    def checked(*args: Any, **kwargs: Any) -> Any:
        _spend()
        check(*args[skip:], **kwargs)
        result = original(*args, **kwargs)
        if isinstance(result, str):
            _string_cap(len(result), f"filter {name}")
        return result

    return update_wrapper(checked, original)


def _no_pad(value: Any = "", width: Any = 80, *_: Any, **__: Any) -> None:
    _width_cap(width if isinstance(width, int) else 0, "filter")


def _lines(value: Any = None, count: Any = 1, *_: Any, **__: Any) -> None:
    if isinstance(count, int) and not 0 < count <= MAX_RANGE:
        raise LimitExceeded(f"batch/slice of {count} (at most {MAX_RANGE})")


def _format(value: Any = "", *_: Any, **__: Any) -> None:
    check_percent(str(value))


def _replace(value: Any = "", old: Any = "", new: Any = "", *_: Any, **__: Any) -> None:
    text, old_s, new_s = str(value), str(old), str(new)
    count = text.count(old_s) if old_s else len(text) + 1
    _string_cap(len(text) + count * len(new_s), "filter replace")


def bounded_filters() -> dict[str, Callable[..., Any]]:
    """Jinja's filters, those that take a size checked first (the rest are bounded by
    their input, which the limits above keep small)."""
    filters = dict(FILTERS)
    filters["center"] = _filter("center", _no_pad)
    filters["indent"] = _filter("indent", _no_pad)
    filters["batch"] = _filter("batch", _lines)
    filters["slice"] = _filter("slice", _lines)
    filters["format"] = _filter("format", _format)
    filters["replace"] = _filter("replace", _replace)
    for name in (
        "join", "string", "sum", "list", "tojson", "pprint", "urlize", "xmlattr", "wordwrap",
        "truncate",
    ):  # fmt: skip
        filters[name] = _filter(name, lambda *a, **k: None)
    return filters


def bounded_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise LimitExceeded(f"range of {len(rng)} items (at most {MAX_RANGE})")
    _spend()
    return rng


def bounded_lipsum(n: int = 5, html: bool = True, low: int = 20, high: int = 100) -> str:
    """Jinja's `lipsum(n, html, min, max)`, at most MAX_LIPSUM paragraphs of 100 words."""
    if not 0 <= n <= MAX_LIPSUM or not 0 < low <= high <= 100:
        raise LimitExceeded(f"lipsum over {MAX_LIPSUM} paragraphs of 100 words")
    _spend(n)
    return str(generate_lorem_ipsum(n, html, low, high))


def counted(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every `{% for %}` loops over this: each iteration counts against the render's
    budget, across all loops (nested, recursive, in macros) together."""
    budget = _BUDGET.get()
    for item in iterable:
        if budget is not None:
            budget.iterate()
        yield item


def bounded_concat(parts: Iterable[Any]) -> str:
    """`a ~ b`: refused when the result would be over MAX_STRING."""
    pieces = [str(p) for p in parts]
    _string_cap(sum(len(p) for p in pieces), "~")
    _spend()
    return "".join(pieces)


class BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with `~` going through the budget."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with every size-taking operation checked (module doc)."""

    code_generator_class = BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "<<", "+", "%", "//"})
    intercepted_unops = frozenset({"-"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("optimized", False)
        super().__init__(*args, **kwargs)
        self.binop_table = {**self.binop_table, "<<": lambda a, b: a << b}
        self.filters.update(bounded_filters())
        self.globals["range"] = bounded_range
        self.globals["lipsum"] = bounded_lipsum
        self.bounded_concat = bounded_concat

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        """Every `{% for %}` iterates through `counted` (the loop budget)."""
        for loop in source.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.ImportedName(f"{__name__}.counted"), [loop.iter], [], None, None
            )
        return super()._generate(source, name, filename, defer_init)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _spend()
        _binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call_unop(self, context: Any, operator: str, arg: Any) -> Any:
        _spend()
        return super().call_unop(context, operator, arg)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _spend()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _spend()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format`/`format_map` with their specs checked; size-taking str (and
        strftime) methods checked too, however they are reached."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType):
            return None
        name = value.__name__
        owner = value.__self__
        if isinstance(owner, str) and name in ("format", "format_map"):
            check_format_string(owner)
        elif name in SIZED_METHODS and (isinstance(owner, str) or name == "strftime"):
            return _sized(name, value, owner if isinstance(owner, str) else "")
        return super().wrap_str_format(value)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _spend()
        checked = __self.wrap_str_format(__obj)  # a method reached without getattr (|attr)
        return super().call(__context, checked or __obj, *args, **kwargs)


def render_bounded(template: Any, context: dict[str, Any], limits: Limits) -> tuple[str, Budget]:
    """Render under a fresh budget: the text and what it spent (LimitExceeded if over)."""
    budget = Budget(limits)
    token = _BUDGET.set(budget)
    try:
        out: list[str] = []
        size = 0
        for piece in template.generate(**context):
            size += len(piece)
            if size > limits.output:
                raise LimitExceeded(f"output over {limits.output} characters")
            budget.spend()
            out.append(piece)
        return "".join(out), budget
    finally:
        _BUDGET.reset(token)
