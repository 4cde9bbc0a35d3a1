"""String values as Jinja2 templates, rendered in a sandbox with undefined variables as errors.

A stack file may come from a stranger, so a template can read nothing the stack did
not declare and learn nothing of a secret:

- `env('X')` reads only the variables listed in `[stack] env` (plain values, shown in
  plans); any other name is an error;
- `secret('X')` gives the template an opaque stand-in, not the value: the value is put
  in its place after rendering, so no filter, test, comparison or error message of the
  template ever sees it (and the rendered string becomes a Secret);
- operators and filters that could build huge values (`9**(9**9)`, `'x' * 10**9`,
  `center(10**9)`) are refused, lists and dicts cannot be changed, `lipsum` is gone;
  under `--untrusted`, all rendering of one load shares a time budget.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

from hostform.declare.access import MAX_RENDER_CHARS, RENDER_SECONDS
from hostform.declare.secret_sources import SecretSources
from hostform.declare.secrets import Secret, SecretUnreadable, UnknownSecret

MAX_NUMBER_BITS = 4096  # an integer a template makes: far beyond any port, size or count
MAX_WIDTH = 4096  # width-like arguments of filters and string methods (center, indent, ljust...)
_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice"})
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
# '%99999d', '%.99999f', '{:>99999}': a width or precision that allocates a huge string
_BIG_FORMAT = re.compile(r"%[-+ #0*]*\d*\.?\d{5,}|\{[^{}]*:[^{}]*\d{5,}[^{}]*\}")
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"  # private-use characters around a secret's stand-in


class RenderError(Exception):
    """A template could not be rendered; the loader adds where."""


class _OverBudget(RenderError):
    pass


class _SecretRef:
    """What `secret('X')` gives a template: a stand-in that prints as a unique token."""

    __slots__ = ("name", "token")

    def __init__(self, name: str, token: str) -> None:
        self.name, self.token = name, token

    def __str__(self) -> str:
        return self.token

    def __repr__(self) -> str:
        return f"secret({self.name!r})"


@dataclass
class Renderer:
    """Renders strings with `vars`, `env()` and `secret()`; remembers which used a secret.

    plain_env: the variables `env()` may read (the stack's `[stack] env`).
    budget: seconds for all rendering of this renderer (None: no time limit).
    """

    variables: Mapping[str, Any]
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    plain_env: frozenset[str] = frozenset()
    budget: float | None = None
    secrets_optional: bool = False  # an unset secret gives an UnknownSecret instead of an error
    sources: SecretSources | None = None  # where secret() reads (default: the environment alone)
    _sandbox: SandboxedEnvironment | None = field(init=False, default=None)
    _secrets_used: dict[str, tuple[str, str | None]] = field(init=False, default_factory=dict)  # token -> (name, value)
    _nonce: str = field(init=False, default_factory=lambda: os.urandom(6).hex())

    def __post_init__(self) -> None:
        if self.sources is None:
            self.sources = SecretSources(self.environ)

    @classmethod
    def untrusted(
        cls,
        variables: Mapping[str, Any],
        environ: Mapping[str, str],
        plain_env: frozenset[str],
        sources: SecretSources | None = None,
    ) -> Renderer:
        return cls(variables, environ, plain_env, budget=RENDER_SECONDS, sources=sources)

    @property
    def _env(self) -> SandboxedEnvironment:
        """Made on first use: a stack without templates never imports jinja2."""
        if self._sandbox is None:
            self._sandbox = _bounded_sandbox()
            self._sandbox.globals.pop("lipsum", None)
            self._sandbox.globals.update(env=self._env_fn, secret=self._secret_fn, vars=self.variables)
        return self._sandbox

    def _env_fn(self, name: Any, default: Any = None) -> Any:
        if not isinstance(name, str):
            raise RenderError("env() takes the name of a variable declared in [stack] env")
        if name not in self.plain_env:
            raise RenderError(
                f"env({name!r}): {name!r} is not declared in [stack] env (declare the variables a stack reads "
                f"as plain values there, or read a secret with secret({name!r}))"
            )
        if name in self.environ:
            return self.environ[name]
        if default is None:
            raise RenderError(
                f"environment variable {name!r} is not set (set it, in the environment or in .env next to the "
                f"stack file, or give env({name!r}, default=...))"
            )
        return default

    def _secret_fn(self, name: Any) -> _SecretRef:
        if not isinstance(name, str) or not name:
            raise RenderError("secret() takes the name of an environment variable")
        value = self._secret_value(name)
        token = f"{_MARK_OPEN}{self._nonce}:{len(self._secrets_used)}{_MARK_CLOSE}"
        self._secrets_used[token] = (name, value)
        return _SecretRef(name, token)

    def _secret_value(self, name: str) -> str | None:
        """None: the value stands for an unknown one (validate reads none; drift without it)."""
        assert self.sources is not None
        try:
            return self.sources.value(name, optional=self.secrets_optional)
        except SecretUnreadable as exc:
            raise RenderError(str(exc)) from None

    def secret(self, name: str) -> Secret:
        """secret('NAME') as a whole value (a `secrets = [...]` entry's source); an unset one is an
        UnknownSecret when secrets are optional (drift), a RenderError otherwise."""
        value = self._secret_value(name)
        return Secret(value, (name,)) if value is not None else UnknownSecret("", (name,))

    def render(self, text: str) -> str | Secret:
        if "{{" not in text and "{%" not in text and "{#" not in text:
            return text
        return self._render_with(lambda: self._env.from_string(text))

    def render_file_template(self, source: str, name: str) -> str | Secret:
        # parsing inside, so a syntax error is a RenderError too
        return self._render_with(lambda: self._env.from_string(source, globals={"name": name}), where=True)

    def _render_with(self, parse: Callable[[], Any], where: bool = False) -> str | Secret:
        """where: say on which line of the template (a file) it failed."""
        from jinja2 import TemplateError

        self._secrets_used = {}
        try:
            with self._deadline():
                out = _bounded_output(parse().generate())
        except RenderError as exc:
            raise RenderError(_at_line(exc, where) + str(exc)) from None
        except TemplateError as exc:
            raise RenderError(_at_line(exc, where) + _template_message(exc)) from None
        except MemoryError:
            raise  # a hard limit (declare.bounds), not a problem of this template
        except Exception as exc:  # a sandbox violation or a failing filter
            raise RenderError(f"{_at_line(exc, where)}template failed: {type(exc).__name__}: {exc}") from None
        if not self._secrets_used:
            return out
        return self._put_secrets(out)

    def _put_secrets(self, out: str) -> Secret:
        names = []
        unknown = False
        for token, (name, value) in self._secrets_used.items():
            if token in out:
                names.append(name)
            unknown = unknown or value is None
            out = out.replace(token, value or "")
        # a stand-in that a filter changed (|upper, |reverse...) is no longer found whole
        if any(m in out for m in (_MARK_OPEN, _MARK_CLOSE)) or self._nonce in out:
            raise RenderError(
                "a secret() value can only be inserted as it is: filters, tests and operations on it are not allowed"
            )
        kind = UnknownSecret if unknown else Secret
        return kind(out, tuple(names or (n for n, _ in self._secrets_used.values())))

    @contextmanager
    def _deadline(self) -> Iterator[None]:
        """The time left of the budget, enforced by a timer signal (main thread only: elsewhere the
        operator and size limits still hold)."""
        if self.budget is None or threading.current_thread() is not threading.main_thread():
            yield
            return
        if self.budget <= 0:
            raise _OverBudget("template rendering used up its time budget (--untrusted)")

        def expired(signum: int, frame: object) -> None:
            raise _OverBudget("template rendering used up its time budget (--untrusted)")

        previous = signal.signal(signal.SIGALRM, expired)
        started = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, self.budget)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            self.budget -= time.monotonic() - started


def _bounded_output(chunks: Iterator[str]) -> str:
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_RENDER_CHARS:
            raise RenderError(f"the template's output is longer than {MAX_RENDER_CHARS} characters")
        out.append(chunk)
    return "".join(out)


def _bounded_sandbox() -> SandboxedEnvironment:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Bounded(ImmutableSandboxedEnvironment):
        """Operators and calls that could allocate without bound are checked first."""

        intercepted_binops = frozenset({"**", "*", "+", "%"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _check_binop(operator, left, right)
            return super().call_binop(context, operator, left, right)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
            if getattr(__obj, "__name__", "") in _WIDTH_METHODS or getattr(__obj, "__name__", "") == "format":
                _check_widths(getattr(__obj, "__name__", ""), getattr(__obj, "__self__", None), args, kwargs)
            return super().call(__context, __obj, *args, **kwargs)

    env = Bounded(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    for name in _WIDTH_FILTERS | {"format"}:
        env.filters[name] = _checked_filter(name, env.filters[name])
    return env


def _checked_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    import functools

    @functools.wraps(fn)
    def checked(*args: Any, **kwargs: Any) -> Any:
        _check_widths(name, args[0] if args else None, args[1:], kwargs)
        return fn(*args, **kwargs)

    return checked


def _check_widths(name: str, subject: Any, args: Any, kwargs: dict[str, Any]) -> None:
    if name == "format":
        if isinstance(subject, str) and _BIG_FORMAT.search(subject):
            raise RenderError(f"format width too large in a template (at most {MAX_WIDTH})")
        return
    for value in [*args, *kwargs.values()]:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_WIDTH:
            raise RenderError(f"{name}(): {value} is too large for a template (at most {MAX_WIDTH})")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right))
    if operator == "**" and ints and right > 0 and abs(left) > 1 and right * left.bit_length() > MAX_NUMBER_BITS:
        raise RenderError(f"number too large in a template ({left} ** {right})")
    if operator == "*":
        if ints and left.bit_length() + right.bit_length() > MAX_NUMBER_BITS:
            raise RenderError("number too large in a template")
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > MAX_RENDER_CHARS:
                raise RenderError(f"a repeated value longer than {MAX_RENDER_CHARS} in a template")
    sequences = all(isinstance(v, str | list | tuple) for v in (left, right))
    if operator == "+" and sequences and len(left) + len(right) > MAX_RENDER_CHARS:
        raise RenderError(f"a value longer than {MAX_RENDER_CHARS} in a template")
    if operator == "%" and isinstance(left, str) and _BIG_FORMAT.search(left):
        raise RenderError(f"format width too large in a template (at most {MAX_WIDTH})")


def _at_line(exc: BaseException, where: bool) -> str:
    """'line N: ' of the template that failed: a syntax error knows its line; at render time,
    jinja2 maps the template's frames in the traceback to its lines."""
    if not where:
        return ""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"line {line}: " if line else ""


def _template_message(exc: Exception) -> str:
    msg = str(getattr(exc, "message", None) or exc)
    if type(exc).__name__ == "UndefinedError":
        return f"undefined variable: {msg}"
    if type(exc).__name__ == "SecurityError":
        return f"not allowed in a template: {msg}"
    if type(exc).__name__ == "TemplateSyntaxError":
        return f"template syntax error: {msg}"
    return f"template error: {msg}"
