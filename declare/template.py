"""String values as Jinja2 templates, rendered in a sandbox with undefined variables as errors."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

from hostform.declare.secrets import Secret, SecretUnreadable, read_secret


class RenderError(Exception):
    """A template could not be rendered; the loader adds where."""


@dataclass
class Renderer:
    """Renders strings with `vars`, `env()` and `secret()`; remembers which used a secret."""

    variables: Mapping[str, Any]
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _sandbox: SandboxedEnvironment | None = field(init=False, default=None)
    _secrets_used: list[str] = field(init=False, default_factory=list)

    @property
    def _env(self) -> SandboxedEnvironment:
        """Made on first use: a stack without templates never imports jinja2."""
        if self._sandbox is None:
            from jinja2 import StrictUndefined
            from jinja2.sandbox import SandboxedEnvironment

            self._sandbox = SandboxedEnvironment(
                undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
            )
            self._sandbox.globals.update(env=self._env_fn, secret=self._secret_fn, vars=self.variables)
        return self._sandbox

    def _env_fn(self, name: str, default: Any = None) -> Any:
        if name in self.environ:
            return self.environ[name]
        if default is None:
            raise RenderError(f"environment variable {name!r} is not set (give env({name!r}, default=...))")
        return default

    def _secret_fn(self, name: str) -> str:
        try:
            value = read_secret(name, dict(self.environ))
        except SecretUnreadable as exc:
            raise RenderError(str(exc)) from None
        if value is None:
            raise RenderError(f"secret {name!r} is not set (set {name} or {name}_FILE in the environment)")
        self._secrets_used.append(name)
        return value

    def render(self, text: str) -> str | Secret:
        if "{{" not in text and "{%" not in text and "{#" not in text:
            return text
        return self._render_with(lambda: self._env.from_string(text).render())

    def render_file_template(self, source: str, name: str) -> str | Secret:
        def produce() -> str:  # parsing inside, so a syntax error is a RenderError too
            return self._env.from_string(source, globals={"name": name}).render()

        return self._render_with(produce, where=True)

    def _render_with(self, produce: Callable[[], str], where: bool = False) -> str | Secret:
        """where: say on which line of the template (a file) it failed."""
        from jinja2 import TemplateError

        self._secrets_used = []
        try:
            out = produce()
        except RenderError as exc:
            raise RenderError(_at_line(exc, where) + str(exc)) from None
        except TemplateError as exc:
            raise RenderError(_at_line(exc, where) + _template_message(exc)) from None
        except Exception as exc:  # a sandbox violation or a failing filter
            raise RenderError(f"{_at_line(exc, where)}template failed: {type(exc).__name__}: {exc}") from None
        if self._secrets_used:
            return Secret(out, tuple(self._secrets_used))
        return out


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
