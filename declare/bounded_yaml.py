"""YAML that cannot expand: aliases bounded by count and by the size they stand for.

A 549-byte file of nine levels of ten aliases stands for a billion nodes: PyYAML builds
it as a small graph of shared objects, and whatever walks the result (interpolation,
merging, mapping) copies it out to exhaustion. So the composed node graph is measured
before anything is built from it: the number of alias nodes, the number of nodes the
document would have with every alias copied out (counted over the graph, each node once),
and its depth. A recursive alias (`&a [*a]`) is refused too.
"""

from __future__ import annotations

from typing import Any

MAX_YAML_BYTES = 4 << 20  # a Compose file: read at most this much
MAX_ALIASES = 1000  # alias nodes (`*name`) in one document
MAX_EXPANDED_NODES = 200_000  # nodes the document stands for, every alias copied out
MAX_DEPTH = 200  # nesting of collections


class YamlRefused(Exception):
    """The document is too large once its aliases are counted; the message says which bound."""


def load_bounded(text: str) -> tuple[Any, Any]:
    """The composed root node (None for an empty document) and the data built from it, after the
    bounds are checked on the node graph. yaml.YAMLError for invalid YAML, YamlRefused past a bound."""
    import yaml

    loader = _counting_loader()(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YamlRefused(f"nested more than {MAX_DEPTH} levels deep") from None
        if node is None:
            return None, None
        if loader.aliases > MAX_ALIASES:
            raise YamlRefused(f"more than {MAX_ALIASES} aliases")
        _check_expansion(node)
        lines_node = _copy_marks(node)
        return lines_node, loader.construct_document(node)
    except yaml.YAMLError:
        raise
    finally:
        loader.dispose()


def _counting_loader() -> type[Any]:
    import yaml

    class CountingLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no type information here
        """SafeLoader counting the alias nodes it composes."""

        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_ALIASES:  # stop composing at once
                    raise YamlRefused(f"more than {MAX_ALIASES} aliases")
            return super().compose_node(parent, index)

    return CountingLoader


def _check_expansion(root: Any) -> None:
    """Nodes and depth of the document with every alias copied out, each shared node measured once."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, depth)
    on_path: set[int] = set()

    def measure(node: Any, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in on_path:
            raise YamlRefused("a recursive alias (a node that holds itself)")
        if depth > MAX_DEPTH:
            raise YamlRefused(f"nested more than {MAX_DEPTH} levels deep")
        children = _children(node)
        on_path.add(key)
        total, deepest = 1, 0
        for child in children:
            size, child_depth = measure(child, depth + 1)
            total += size
            deepest = max(deepest, child_depth + 1)
            if total > MAX_EXPANDED_NODES:
                raise YamlRefused(f"it stands for more than {MAX_EXPANDED_NODES} nodes once its aliases are expanded")
        on_path.discard(key)
        sizes[key] = (total, deepest)
        return sizes[key]

    measure(root, 0)


def _children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _copy_marks(node: Any) -> Any:
    """The node graph as composed, before construction flattens `<<` merges into it in place
    (the lines of keys are read from this one). Shallow: collections get their own value lists."""
    import yaml

    copies: dict[int, Any] = {}

    def copy(n: Any) -> Any:
        if id(n) in copies:
            return copies[id(n)]
        if isinstance(n, yaml.MappingNode):
            out = yaml.MappingNode(n.tag, [], n.start_mark, n.end_mark, n.flow_style)
            copies[id(n)] = out
            out.value = [(copy(k), copy(v)) for k, v in n.value]
            return out
        if isinstance(n, yaml.SequenceNode):
            seq = yaml.SequenceNode(n.tag, [], n.start_mark, n.end_mark, n.flow_style)
            copies[id(n)] = seq
            seq.value = [copy(v) for v in n.value]
            return seq
        return n

    return copy(node)
